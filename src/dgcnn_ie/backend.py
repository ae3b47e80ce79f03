"""What depends on the Keras backend: the device, op determinism, the compiled train step and the compiled
inference functions (seeding: `dgcnn_ie.utils.set_seed`).

TensorFlow is the default and what the pipeline installs. With ``KERAS_BACKEND=jax`` (and jax installed)
the same model, masked loss, bias-corrected EMA and training loop run under JAX; nothing on the training
and prediction path then imports TensorFlow (``tests/test_backend.py`` checks it). The model, the loss, the
EMA and decoding are written in ``keras.ops`` and need nothing from here; only what each framework compiles
differently lives in this module.

Under JAX every distinct input shape is a new compilation, so batches are padded along the sequence axis to
a few bucket lengths (:func:`bucket_length`) before they reach a compiled function. Padding is masked
everywhere (model, loss), so it changes no probability and no loss beyond float round-off.
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np

# the sequence lengths a JAX batch is padded up to (then multiples of the last step)
_BUCKETS = (32, 64, 96, 128, 192, 256, 384, 512)


def name() -> str:
    """The Keras backend in use: ``"tensorflow"`` or ``"jax"`` (``KERAS_BACKEND``)."""
    return keras.backend.backend()


def is_tensorflow() -> bool:
    return name() == "tensorflow"


def gpu_devices() -> list[str]:
    """Names of the accelerators the backend will run the model on ([] on a CPU-only machine)."""
    if is_tensorflow():
        import tensorflow as tf
        return [g.name for g in tf.config.list_physical_devices("GPU")]
    import jax
    return [str(d) for d in jax.devices() if d.platform != "cpu"]


def device_name() -> str:
    """``"GPU x<n> (<names>)"`` or ``"CPU"``: where the backend runs the model."""
    gpus = gpu_devices()
    return f"GPU x{len(gpus)} ({', '.join(gpus)})" if gpus else "CPU"


def enable_determinism(device: str, log: Callable[[str], None]) -> bool:
    """Make the backend's ops deterministic where that is supported, else log why not; never raise.

    TensorFlow: op determinism is switched on (CPU and GPU). On a GPU an op without a deterministic kernel
    raises ``UnimplementedError`` when it first runs; the compiled step and inference functions of this
    module then switch determinism off, log a warning and run the op again (:func:`tf_call`). JAX: its CPU
    ops are deterministic; on a GPU, XLA's ``--xla_gpu_deterministic_ops`` must be set in ``XLA_FLAGS``
    before jax starts, which is checked here. Returns whether determinism is on.
    """
    if not is_tensorflow():
        if device == "CPU" or _xla_flag_on("xla_gpu_deterministic_ops"):
            return True
        log("warning: JAX on a GPU is not deterministic; set XLA_FLAGS=--xla_gpu_deterministic_ops=true "
            "before starting to make it so")
        return False
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    return True


def _xla_flag_on(flag: str) -> bool:
    """Whether ``--<flag>`` (bare, or ``=true``/``=1``, any case) is in ``XLA_FLAGS``."""
    import os
    for item in os.environ.get("XLA_FLAGS", "").split():
        name, _, value = item.lstrip("-").partition("=")
        if name == flag:
            return value.lower() in ("", "true", "1")
    return False


def _warn(message: str) -> None:
    from .utils import log
    log(message)


def tf_call(fn, *args):
    """``fn(*args)`` under TensorFlow, falling back once when op determinism cannot be honoured.

    When ``fn`` raises ``tf.errors.UnimplementedError`` because an op has no deterministic kernel on this
    device (a GPU) and op determinism is on, determinism is switched off, a warning is logged and
    ``fn(*args)`` is called again. Any other error, or the same error with determinism already off, is
    raised. Use it around every TensorFlow call that runs the model (compiled steps, ``train_on_batch``).
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config   # no public is_enabled/disable in TF 2.21
    try:
        return fn(*args)
    except tf.errors.UnimplementedError as exc:
        if "determinis" not in str(exc).lower() or not tf_config.is_op_determinism_enabled():
            raise
        tf_config.disable_op_determinism()
        _warn(f"warning: op determinism switched off: an op has no deterministic kernel on this device "
              f"({' '.join(str(exc).split())[:200]})")
        return fn(*args)


def make_optimizer(lr: float, precision: str):
    """Adam at ``lr``; under ``mixed_float16`` wrapped in Keras's dynamic loss scaling (float16 gradients
    underflow without it)."""
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.LossScaleOptimizer(optimizer) if precision == "mixed_float16" else optimizer


class DtypePolicy:
    """``with DtypePolicy("mixed_bfloat16"): build_models(...)``: layers built inside compute in that dtype
    (weights stay float32); the global policy is restored on exit."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self._previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.name)
        return self

    def __exit__(self, *exc):
        keras.mixed_precision.set_global_policy(self._previous)
        return False


def bucket_length(n: int) -> int:
    """The padded sequence length of a JAX batch whose longest text has ``n`` characters."""
    for b in _BUCKETS:
        if n <= b:
            return b
    step = _BUCKETS[-1] - _BUCKETS[-2]
    return -(-n // step) * step


def pad_sequences(arrays: dict, length: int) -> dict:
    """Zero-pad every array with a sequence axis (axis 1; all but ``subject_span``) to ``length``."""
    return {key: np.asarray(a) if key == "subject_span" else _pad_axis(np.asarray(a), 1, length)
            for key, a in arrays.items()}


class TrainStep:
    """One optimisation step ``(inputs, targets, lr) -> loss`` (masked loss, Adam, EMA update).

    Under TensorFlow the state lives in the Keras variables and every step updates them. Under JAX the
    step is a pure function of the state, which is held here as arrays during an epoch; :meth:`sync`
    writes it back into the Keras variables (model, optimiser, EMA) -- call it before reading any of them
    (dev decoding, checkpoints, a reload). :meth:`sync` is a no-op under TensorFlow.
    """

    def __init__(self, models, optimizer, ema, loss_fn, specs, *, jit_compile: bool = False):
        self.models, self.optimizer, self.ema = models, optimizer, ema
        if is_tensorflow():
            self._call = _tensorflow_step(models, optimizer, ema, loss_fn, specs, jit_compile)
            self._state = None
        else:
            self._call = _jax_step(models, optimizer, ema, loss_fn)
            self._state = _jax_state(models, optimizer, ema)

    def __call__(self, inputs: dict, targets: dict, lr: float) -> float:
        if self._state is None:
            import tensorflow as tf
            return float(tf_call(self._call, inputs, targets, tf.constant(lr, tf.float32)))
        length = bucket_length(int(np.asarray(inputs["chars"]).shape[1]))
        loss, self._state = self._call(self._state, pad_sequences(inputs, length), pad_sequences(targets, length),
                                       np.float32(lr))
        return float(loss)

    def sync(self) -> None:
        """Write the JAX state into the Keras variables (no-op under TensorFlow)."""
        if self._state is None:
            return
        for variables, values in zip(_state_variables(self.models, self.optimizer, self.ema), self._state):
            for v, value in zip(variables, values):
                v.assign(value)

    def reload(self) -> None:
        """Read the Keras variables into the JAX state again (after they were assigned from outside)."""
        if self._state is not None:
            self._state = _jax_state(self.models, self.optimizer, self.ema)


def _tensorflow_step(models, optimizer, ema, loss_fn, specs, jit_compile: bool):
    import tensorflow as tf
    variables = models.train.trainable_variables

    @tf.function(input_signature=[specs[0], specs[1], tf.TensorSpec([], tf.float32)], jit_compile=jit_compile)
    def step(inputs, targets, lr):
        optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            outputs = models.train(inputs, training=True)
            loss = loss_fn(targets, outputs, inputs)
            scaled = optimizer.scale_loss(loss)     # mixed_float16: times the dynamic loss scale; else the loss
        # Dense gradients: Keras 3's TF optimizers apply an embedding's IndexedSlices gradient slice by slice,
        # so Adam's second moment of a row used n times in the batch sums the n squared slices instead of
        # squaring their sum (steps up to sqrt(n) times larger); kg-2019's Keras 2 Adam, and JAX, are dense
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                 for g in tape.gradient(scaled, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        if ema is not None:
            ema.update()
        return loss

    return step


def _state_variables(models, optimizer, ema) -> tuple[list, list, list, list]:
    """The variables a JAX step carries as arrays: trainable, non-trainable, optimiser, EMA (shadow + step)."""
    model = models.train
    return (model.trainable_variables, model.non_trainable_variables, optimizer.variables,
            ema.state_variables if ema is not None else [])


def _jax_state(models, optimizer, ema):
    return tuple([v.value for v in group] for group in _state_variables(models, optimizer, ema))


def _learning_rate_index(optimizer) -> int:
    lr = optimizer.learning_rate
    for i, v in enumerate(optimizer.variables):
        if v is lr:
            return i
    raise RuntimeError("the optimiser's learning rate is not one of its variables (a schedule?)")


def _jax_step(models, optimizer, ema, loss_fn):
    import jax
    import jax.numpy as jnp

    model = models.train
    lr_index = _learning_rate_index(optimizer)
    if ema is not None and [id(v) for v in ema.variables] != [id(v) for v in model.trainable_variables]:
        raise RuntimeError("the EMA must average exactly the model's trainable variables")
    decay = None if ema is None else jnp.float32(ema.decay)

    def compute_loss(trainable, non_trainable, opt, inputs, targets):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
        loss = loss_fn(targets, outputs, inputs)
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, opt))):
            scaled = optimizer.scale_loss(loss)     # mixed_float16: times the dynamic loss scale; else the loss
        return scaled, (loss, non_trainable)

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    def step(state, inputs, targets, lr):
        trainable, non_trainable, opt, ema_state = state
        (_, (loss, non_trainable)), grads = grad_fn(trainable, non_trainable, opt, inputs, targets)
        opt = list(opt)
        opt[lr_index] = jnp.asarray(lr, dtype=opt[lr_index].dtype)
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        if ema_state:                    # shadow = decay * shadow + (1 - decay) * w; t += 1 (as BiasCorrectedEMA)
            shadow, t = ema_state[:-1], ema_state[-1]
            shadow = [s * decay.astype(w.dtype) + w * (1 - decay).astype(w.dtype) for s, w in zip(shadow, trainable)]
            ema_state = [*shadow, t + 1]
        return loss, (trainable, non_trainable, opt, ema_state)

    return jax.jit(step, donate_argnums=0)


class Compiled:
    """A ``keras.Function`` compiled for repeated inference: ``fn(list_of_arrays) -> list of numpy arrays``.

    TensorFlow: a ``tf.function`` with free batch and length dims (``jit_compile``: with XLA). JAX: a jitted stateless call that takes
    the current values of ``variables`` as arguments (so weights changed later -- the EMA applied, a
    reload -- are used) on inputs padded to :func:`bucket_length` and to a power-of-two number of rows (the
    object heads see a different number of subjects every call); outputs are cut back. Padded rows are
    all padding: they may hold anything, and are dropped.
    Which inputs and outputs have a sequence axis is read from the function's symbolic shapes (axis 1 free).
    """

    def __init__(self, fn, variables, *, jit_compile: bool = False):
        self._fn, self._variables = fn, list(variables)
        self._sequence_in = [_has_sequence_axis(t) for t in fn.inputs]
        self._sequence_out = [_has_sequence_axis(t) for t in fn.outputs]
        if is_tensorflow():
            import tensorflow as tf
            self._call = tf.function(fn, input_signature=[[tf.TensorSpec(t.shape, t.dtype) for t in fn.inputs]],
                                     jit_compile=jit_compile)
        else:
            import jax

            def run(values, inputs):
                with keras.StatelessScope(state_mapping=list(zip(self._variables, values))):
                    return self._fn(inputs)

            self._call = jax.jit(run)

    def __call__(self, inputs: list) -> list[np.ndarray]:
        if is_tensorflow():
            return [_float32(t.numpy()) for t in tf_call(self._call, inputs)]
        inputs = [np.asarray(a) for a in inputs]
        rows = inputs[0].shape[0]
        length = max(a.shape[1] for a, seq in zip(inputs, self._sequence_in) if seq)
        padded_rows, padded = 1 << max(rows - 1, 0).bit_length(), bucket_length(length)
        inputs = [_pad_axis(_pad_axis(a, 1, padded) if seq else a, 0, padded_rows)
                  for a, seq in zip(inputs, self._sequence_in)]
        outputs = self._call([v.value for v in self._variables], inputs)
        return [_float32(np.asarray(o)[:rows, :length] if seq else np.asarray(o)[:rows])
                for o, seq in zip(outputs, self._sequence_out)]


def _float32(a: np.ndarray) -> np.ndarray:
    """Probabilities as float32 whatever the compute dtype (a mixed-precision model gives bfloat16/float16)."""
    return a.astype(np.float32) if a.dtype != np.float32 and a.dtype.kind in "fV" else a


def _has_sequence_axis(symbolic) -> bool:
    return len(symbolic.shape) >= 2 and symbolic.shape[1] is None


def _pad_axis(a: np.ndarray, axis: int, size: int) -> np.ndarray:
    """``a`` zero-padded along ``axis`` to ``size`` (as is when it has no such axis or is long enough)."""
    if a.ndim <= axis or a.shape[axis] >= size:
        return a
    width = [(0, 0)] * a.ndim
    width[axis] = (0, size - a.shape[axis])
    return np.pad(a, width)
