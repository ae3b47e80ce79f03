import numpy as np
import pytest
import tensorflow as tf

import keras

from dgcnn_ie.ema import BiasCorrectedEMA


def _var(value, trainable=True):
    return keras.Variable(np.asarray(value, dtype="float32"), trainable=trainable)


def _values(ema):
    return [np.asarray(a) for a in ema.averages()]


@pytest.mark.parametrize("decay", [0.5, 0.999, 0.9999])
def test_one_update_equals_weights(decay):
    w = _var([[0.3, -1.7], [2.5, 1e-3]])
    ema = BiasCorrectedEMA([w], decay)
    ema.update()
    np.testing.assert_allclose(_values(ema)[0], w.numpy(), rtol=1e-6)


def test_constant_weights_stay_exact_after_many_updates():
    w = _var([0.25, -3.0, 7.5])
    ema = BiasCorrectedEMA([w], 0.9999)
    for _ in range(200):
        ema.update()
    assert int(ema.step) == 200
    np.testing.assert_allclose(_values(ema)[0], w.numpy(), rtol=1e-5)


def test_known_sequence_hand_computed():
    # decay 0.5, weights 1, 2, 4: shadow 0.5 -> 1.25 -> 2.625; / (1 - 0.5^3) = 3.
    w = _var([1.0])
    ema = BiasCorrectedEMA([w], 0.5)
    for value in (1.0, 2.0, 4.0):
        w.assign([value])
        ema.update()
    np.testing.assert_allclose(_values(ema)[0], [3.0], rtol=1e-6)


def test_before_any_update_averages_are_raw_weights():
    w = _var([1.5, -2.0])
    ema = BiasCorrectedEMA([w], 0.99)
    np.testing.assert_array_equal(_values(ema)[0], w.numpy())


def test_applied_swaps_in_ema_and_restores_raw_weights():
    w = _var([1.0, 1.0])
    ema = BiasCorrectedEMA([w], 0.5)
    ema.update()
    w.assign([3.0, -1.0])
    ema.update()  # shadow = 0.25·w1 + 0.5·w2, read / 0.75
    expected = np.array([(0.25 * 1 + 0.5 * 3) / 0.75, (0.25 * 1 - 0.5 * 1) / 0.75], "float32")
    with ema.applied():
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(w.numpy(), [3.0, -1.0])
    with pytest.raises(ZeroDivisionError):
        with ema.applied():
            1 / 0
    np.testing.assert_array_equal(w.numpy(), [3.0, -1.0])


def test_apply_twice_and_restore_without_apply_are_errors():
    ema = BiasCorrectedEMA([_var([1.0])], 0.9)
    with pytest.raises(RuntimeError):
        ema.restore()
    ema.apply()
    with pytest.raises(RuntimeError):
        ema.apply()
    ema.restore()


def test_assign_to_model_is_permanent():
    w = _var([2.0])
    ema = BiasCorrectedEMA([w], 0.5)
    ema.update()
    w.assign([4.0])
    ema.update()
    ema.assign_to_model()
    np.testing.assert_allclose(w.numpy(), [(0.25 * 2 + 0.5 * 4) / 0.75], rtol=1e-6)


def test_only_trainable_variables_are_tracked():
    w, frozen = _var([1.0]), _var([5.0], trainable=False)
    ema = BiasCorrectedEMA([w, frozen], 0.9)
    assert ema.variables == [w]
    ema.update()
    w.assign([2.0])
    ema.assign_to_model()
    assert float(frozen.numpy()[0]) == 5.0


def test_invalid_decay():
    for decay in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError):
            BiasCorrectedEMA([_var([1.0])], decay)


def test_works_inside_tf_function_train_step():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(3)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    layer(x)
    optimizer = keras.optimizers.SGD(0.1)
    ema = BiasCorrectedEMA(layer.trainable_variables, 0.9)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - 1.0))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        ema.update()

    @tf.function
    def ema_output():
        with ema.applied():
            return layer(x)

    # Reference EMA computed by hand from the weights seen after each step.
    shadow = [np.zeros(v.shape, "float64") for v in layer.trainable_variables]
    for _ in range(5):
        train_step()
        shadow = [0.9 * s + 0.1 * v.numpy() for s, v in zip(shadow, layer.trainable_variables)]
    expected = [s / (1 - 0.9**5) for s in shadow]
    assert int(ema.step) == 5
    for got, want in zip(_values(ema), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    raw = [v.numpy().copy() for v in layer.trainable_variables]
    kernel, bias = expected
    np.testing.assert_allclose(np.asarray(ema_output()), x @ kernel + bias, rtol=1e-5, atol=1e-5)
    for before, var in zip(raw, layer.trainable_variables):
        np.testing.assert_array_equal(var.numpy(), before)


def test_accepts_plain_tf_variables():
    w = tf.Variable([1.0, 2.0])
    ema = BiasCorrectedEMA([w], 0.5)
    ema.update()
    w.assign([3.0, 4.0])
    ema.update()
    with ema.applied():
        expected = [(0.25 * 1 + 0.5 * 3) / 0.75, (0.25 * 2 + 0.5 * 4) / 0.75]
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0])
