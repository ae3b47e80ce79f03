import dataclasses
import json
import zipfile

import numpy as np
import pytest
import tensorflow as tf

import keras

from conftest import repo_params, tiny_params
from dgcnn_ie.config import ConfigError, config_from_dict
from dgcnn_ie.model import (
    OBJECT_INPUTS,
    SUBJECT_INPUTS,
    build_models,
    load_models,
    has_softmax_objects,
    masked_loss,
    split_models,
)

C, DW, VOCAB = 3, 8, 30
# the shared tiny model (conftest.TINY_MODEL) with 3 conv layers, a BiGRU subject encoder and word vectors
MODEL = tiny_params(model={"arch": "dgcnn", "dilations": [1, 2, 5], "kernel_size": 3, "max_len": 64, "dropout": 0.25,
                           "conv_dropout": 0.1, "subject_encoder": "bigru", "subject_points": 6,
                           "use_word_vectors": True, "use_attention": True, "use_gates": True})["model"]
MODEL_CONFIG = config_from_dict(repo_params({"model": MODEL})).model   # the repository's params, a tiny model
VARIANTS = [
    {"arch": "dgcnn", "subject_encoder": "bigru"},
    {"arch": "dgcnn", "subject_encoder": "concat"},
    {"arch": "bilstm"},
    {"arch": "kg2019_baseline"},
]
ABLATIONS = [{"use_attention": False}, {"use_gates": False}, {"use_word_vectors": False}]


def _build(**overrides):
    """Seeded models whose position table is made non-zero (it is zero-initialised),
    so that absolute/relative positions really influence the outputs under test."""
    keras.utils.set_random_seed(0)
    models = build_models(dataclasses.replace(MODEL_CONFIG, **overrides), C, DW, VOCAB)
    for w in models.train.weights:
        if "position_embedding" in w.path:
            w.assign(np.random.default_rng(2).normal(size=w.shape).astype("float32"))
    return models


def _batch(lengths, total_len=None, seed=0):
    """Random inputs with right padding; text b has lengths[b] real chars."""
    rng = np.random.default_rng(seed)
    B, L = len(lengths), total_len or max(lengths)
    chars = np.zeros((B, L), "int32")
    for b, n in enumerate(lengths):
        chars[b, :n] = rng.integers(1, VOCAB, n)
    real = (chars > 0)[..., None]
    return {
        "chars": chars,
        "words": rng.normal(size=(B, L, DW)).astype("float32") * real,
        "subject_prior": (rng.random((B, L, 2)) < 0.2).astype("float32") * real,
        "object_prior": (rng.random((B, L, 2 * C)) < 0.1).astype("float32") * real,
        "subject_span": np.array([[min(1, n - 1), min(3, n - 1)] for n in lengths], "int32"),
    }


def _pick(batch, keys):
    return {k: batch[k] for k in keys}


def _np(outputs):
    return {k: v.numpy() for k, v in outputs.items()}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_output_shapes_and_padding(variant):
    models = _build(**variant)
    batch = _batch([7, 4])
    out = _np(models.train(batch, training=False))
    assert out["subject_start"].shape == out["subject_end"].shape == (2, 7)
    assert out["object_start"].shape == out["object_end"].shape == (2, 7, C)
    for v in out.values():
        assert np.all((v >= 0) & (v <= 1))
        assert np.all(v[1, 4:] == 0), "padding positions must have probability 0"
    # The subject/object views share the train model's weights.
    sub = _np(models.subject(_pick(batch, SUBJECT_INPUTS), training=False))
    obj = _np(models.object(_pick(batch, OBJECT_INPUTS), training=False))
    for k, v in {**sub, **obj}.items():
        np.testing.assert_allclose(v, out[k], atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS + ABLATIONS, ids=lambda v: "-".join(map(str, v.values())))
def test_sentence_pass_then_object_heads_equal_the_object_model(variant, tmp_path):
    """The decoder's split: one `sentence` pass per text, then `object_head` on the rows of several subjects
    (rows repeated, in another order) gives the object model's probabilities, for every variant and after a
    save/load round trip; the split reads no per-subject input in the sentence part."""
    models = _build(**variant)
    batch = _batch([9, 6, 4], seed=3)
    rows = np.array([2, 0, 0, 1])
    spans = np.array([[0, 1], [2, 4], [5, 5], [3, 3]], "int32")
    per_row = {k: batch[k][rows] for k in SUBJECT_INPUTS + ("object_prior",)}
    per_row["subject_span"] = spans
    for m in (models, load_models(_saved(models, tmp_path))):
        expected = _np(m.object(_pick(per_row, OBJECT_INPUTS), training=False))
        assert len(m.sentence.inputs) == len(SUBJECT_INPUTS) and len(m.object_head.inputs) == len(m.sentence.outputs)
        sentence = [np.asarray(t) for t in m.sentence([batch[k] for k in SUBJECT_INPUTS])]
        subject = _np(m.subject(_pick(batch, SUBJECT_INPUTS), training=False))
        np.testing.assert_allclose(sentence[0], subject["subject_start"], atol=1e-6)
        np.testing.assert_allclose(sentence[1], subject["subject_end"], atol=1e-6)
        start, end = m.object_head([t[rows] for t in sentence[2:]] + [spans, per_row["object_prior"]])
        np.testing.assert_allclose(np.asarray(start), expected["object_start"], atol=1e-5)
        np.testing.assert_allclose(np.asarray(end), expected["object_end"], atol=1e-5)


def _saved(models, tmp_path):
    path = tmp_path / "m.keras"
    models.train.save(path)
    return path


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_padding_invariance(variant):
    models = _build(**variant)
    tight = _batch([6, 9])
    padded = {k: v.copy() for k, v in _batch([6, 9], total_len=15).items()}
    for key in ("chars", "words", "subject_prior", "object_prior"):
        padded[key][:, :9] = tight[key]
    padded["subject_span"] = tight["subject_span"]
    a = _np(models.train(tight, training=False))
    b = _np(models.train(padded, training=False))
    for key in a:
        np.testing.assert_allclose(b[key][:, :9], a[key], atol=1e-5)
        assert np.all(b[key][:, 9:] == 0)


def test_single_predicate_schema_keeps_predicate_axis():
    keras.utils.set_random_seed(0)
    models = build_models(MODEL_CONFIG, 1, DW, VOCAB)
    batch = _batch([5, 3])
    batch["object_prior"] = batch["object_prior"][..., :2]
    out = _np(models.object(_pick(batch, OBJECT_INPUTS), training=False))
    assert out["object_start"].shape == out["object_end"].shape == (2, 5, 1)


def test_longer_than_max_len_does_not_crash():
    models = _build()
    batch = _batch([80, 30])
    batch["subject_span"][0] = [70, 75]  # relative positions beyond the table too
    out = _np(models.train(batch, training=False))
    assert out["object_start"].shape == (2, 80, C)
    assert all(np.isfinite(v).all() for v in out.values())


def test_spans_out_of_range_are_clipped():
    models = _build()
    batch = _batch([5, 5])
    inside = _np(models.object(_pick(batch, OBJECT_INPUTS), training=False))
    batch["subject_span"] = np.array([[1, 99], [1, 3]], "int32")
    clipped = dict(batch, subject_span=np.array([[1, 4], [1, 3]], "int32"))
    a = _np(models.object(_pick(batch, OBJECT_INPUTS), training=False))
    b = _np(models.object(_pick(clipped, OBJECT_INPUTS), training=False))
    for key in a:
        np.testing.assert_allclose(a[key][1], inside[key][1], atol=1e-6)
        np.testing.assert_allclose(a[key][0], b[key][0], atol=1e-6)
    # The span really conditions the objects: [1, 4] differs from [1, 3].
    assert not np.allclose(b["object_start"][0], inside["object_start"][0], atol=1e-6)


def test_same_seed_same_weights():
    first = [w.numpy() for w in _build().train.weights]
    second = [w.numpy() for w in _build().train.weights]
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_masked_loss_matches_numpy():
    rng = np.random.default_rng(1)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], "float32")
    outputs = {
        "subject_start": rng.random((2, 4)).astype("float32"),
        "subject_end": rng.random((2, 4)).astype("float32"),
        "object_start": rng.random((2, 4, C)).astype("float32"),
        "object_end": np.zeros((2, 4, C), "float32"),  # exercises the clipping
    }
    targets = {k: (rng.random(v.shape) < 0.3).astype("float32") for k, v in outputs.items()}

    def bce(t, p):
        p = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    expected = 0.0
    for key in outputs:
        per_position = bce(targets[key], outputs[key])
        if key.startswith("object"):
            per_position = per_position.sum(-1)  # summed over predicates
        expected += (per_position * mask).sum() / mask.sum()
    got = float(masked_loss(targets, outputs, mask > 0))
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # kg.py's weighting: 2.5 x the subject terms
    subject = sum((bce(targets[k], outputs[k]) * mask).sum() / mask.sum() for k in ("subject_start", "subject_end"))
    weighted = float(masked_loss(targets, outputs, mask > 0, subject_weight=2.5))
    np.testing.assert_allclose(weighted, expected + 1.5 * subject, rtol=1e-5)


def test_softmax_object_loss_matches_numpy():
    """Categorical cross-entropy from the C predicate channels: P(none) = 1 - sum; a position
    with several gold predicates shares the target evenly; subject terms stay BCE."""
    rng = np.random.default_rng(2)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], "float32")
    logits = rng.normal(size=(2, 4, C + 1))
    soft = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    outputs = {"subject_start": rng.random((2, 4)).astype("float32"),
               "subject_end": rng.random((2, 4)).astype("float32"),
               "object_start": soft[..., 1:].astype("float32"), "object_end": soft[..., 1:].astype("float32")}
    starts = np.zeros((2, 4, C), "float32")
    starts[0, 0, 2] = 1                     # one predicate
    starts[1, 1, [0, 2]] = 1                # two predicates at one position
    targets = {"subject_start": np.zeros((2, 4), "float32"), "subject_end": np.zeros((2, 4), "float32"),
               "object_start": starts, "object_end": np.zeros((2, 4, C), "float32")}

    def bce(t, p):
        p = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    def categorical(t):
        ce = np.where(t.sum(-1) == 0, -np.log(soft[..., 0]), 0.0)
        ce[0, 0] = -np.log(soft[0, 0, 3])
        ce[1, 1] = -(np.log(soft[1, 1, 1]) + np.log(soft[1, 1, 3])) / 2
        return ce if t is starts else -np.log(soft[..., 0])

    expected = sum((bce(targets[k], outputs[k]) * mask).sum() / mask.sum() for k in ("subject_start", "subject_end"))
    expected += sum((categorical(targets[k]) * mask).sum() / mask.sum() for k in ("object_start", "object_end"))
    got = float(masked_loss(targets, outputs, mask > 0, softmax_objects=True))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bilstm_object_heads_are_softmax_predicate_channels():
    models = _build(arch="bilstm")
    assert has_softmax_objects(models) and not has_softmax_objects(_build())
    renamed = keras.Model(models.train.input, models.train.output, name="baseline")
    assert has_softmax_objects(split_models(renamed))   # the heads decide, not the name
    batch = _batch([7, 5])
    out = models.train(batch, training=False)
    totals = np.asarray(out["object_start"]).sum(-1)
    real = batch["chars"] > 0
    assert np.asarray(out["object_start"]).shape[-1] == C
    assert np.all(totals[real] < 1.0) and np.all(totals[real] > 0.0)   # the rest is "no object"


def _targets(batch, seed=0):
    rng = np.random.default_rng(seed)
    real = batch["chars"] > 0
    B, L = real.shape
    return {
        "subject_start": ((rng.random((B, L)) < 0.2) & real).astype("float32"),
        "subject_end": ((rng.random((B, L)) < 0.2) & real).astype("float32"),
        "object_start": ((rng.random((B, L, C)) < 0.1) & real[..., None]).astype("float32"),
        "object_end": ((rng.random((B, L, C)) < 0.1) & real[..., None]).astype("float32"),
    }


@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[2]], ids=["dgcnn", "bilstm"])
def test_training_steps_lower_the_loss(variant):
    models = _build(**variant)
    batch = _batch([10, 8, 6, 10])
    targets = _targets(batch)
    mask = batch["chars"] > 0
    optimizer = keras.optimizers.Adam(1e-2)
    variables = models.train.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = masked_loss(targets, models.train(batch, training=True), mask, has_softmax_objects(models))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def eval_loss():
        return float(masked_loss(targets, models.train(batch, training=False), mask, has_softmax_objects(models)))

    initial = eval_loss()
    for _ in range(60):
        step()
    final = eval_loss()
    assert final < 0.5 * initial, (initial, final)


# Keras' own saving code converts variables with np.array(copy=False): not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_save_and_load_gives_identical_outputs(tmp_path, variant):
    models = _build(**variant)
    batch = _batch([7, 5])
    path = tmp_path / "model.keras"
    models.train.save(path)
    loaded = load_models(path)
    for old, new in ((models.subject, loaded.subject), (models.object, loaded.object)):
        keys = SUBJECT_INPUTS if old is models.subject else OBJECT_INPUTS
        a, b = _np(old(_pick(batch, keys), training=False)), _np(new(_pick(batch, keys), training=False))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def _with_module(path, new_path, module):
    """A copy of the ``.keras`` file ``path`` whose custom layers say they come from ``module``; their class names."""
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(new_path, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "config.json":
                names = set()

                def rewrite(node):
                    if isinstance(node, dict):
                        if str(node.get("module", "")).startswith("dgcnn_ie"):
                            node["module"] = module
                            names.add(node["class_name"])
                        for value in node.values():
                            rewrite(value)
                    elif isinstance(node, list):
                        for value in node:
                            rewrite(value)

                config = json.loads(data)
                rewrite(config)
                data = json.dumps(config).encode()
            new.writestr(item, data)
    return names


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_files_saved_before_the_package_split_still_load(tmp_path):
    """A saved model names each custom layer by its registered name (``dgcnn_ie>Class``) and by its module,
    which was ``dgcnn_ie.model`` before the model became a package. Such a file loads and gives the same
    outputs: Keras finds the layers by their registered names, which must therefore stay as they are."""
    import dgcnn_ie.model.layers as model_layers

    custom = {name for name, obj in vars(model_layers).items() if isinstance(obj, type)
              and issubclass(obj, keras.layers.Layer) and obj.__module__ == model_layers.__name__}
    for name in custom:
        assert keras.saving.get_registered_name(getattr(model_layers, name)) == f"dgcnn_ie>{name}"
    batch = _batch([7, 5])
    seen = set()
    for arch in ("dgcnn", "bilstm"):          # between them, every custom layer
        models = _build(arch=arch)
        old_file = tmp_path / f"{arch}_old.keras"
        seen |= _with_module(_saved(models, tmp_path), old_file, "dgcnn_ie.model")
        loaded = load_models(old_file)
        a, b = _np(models.train(batch, training=False)), _np(loaded.train(batch, training=False))
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert seen == custom


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda a: next(iter(a)))
def test_ablation_switches_build_and_run(ablation):
    full = _build()
    models = _build(**ablation)
    batch = _batch([6, 4])
    out = _np(models.train(batch, training=False))
    assert out["object_start"].shape == (2, 6, C)
    assert models.train.count_params() < full.train.count_params()
    if "use_word_vectors" in ablation:
        noisy = dict(batch, words=batch["words"] * 100.0)
        again = _np(models.train(noisy, training=False))
        for key in out:
            np.testing.assert_array_equal(out[key], again[key])


def test_position_table_is_shared_and_zero_initialised():
    models = build_models(MODEL_CONFIG, C, DW, VOCAB)
    tables = [w for w in models.train.weights if "position_embedding" in w.path]
    assert len(tables) == 1
    assert tables[0].shape == (MODEL_CONFIG.max_len, MODEL_CONFIG.width)
    assert not tables[0].numpy().any()


def test_bad_config_values_are_rejected():
    """The config refuses an unknown arch or subject encoder before any model is built."""
    with pytest.raises(ConfigError, match=r"model\.arch: must be one of dgcnn, bilstm, kg2019_baseline, got 'transformer'"):
        config_from_dict(repo_params({"model": {**MODEL, "arch": "transformer"}}))
    with pytest.raises(ConfigError, match=r"model\.subject_encoder: must be one of bigru, concat, got 'lstm'"):
        config_from_dict(repo_params({"model": {**MODEL, "subject_encoder": "lstm"}}))


def test_masked_max_pool_gradient_goes_to_the_argmax_only():
    """The max of the real positions, its gradient on that one position (the first of ties), none on padding.

    The gather makes the gradient independent of comparing the max with the input again, which under XLA
    (input recomputed, rounded differently) selected no position and gave 0/0 = NaN (docs/benchmark.md)."""
    from dgcnn_ie.model import MaskedMaxPool
    x = tf.constant([[[1.0, 5.0], [3.0, 5.0], [9.0, 0.0]],      # row 0: position 2 is padding; channel 1 tied
                     [[2.0, -1.0], [-4.0, -3.0], [0.5, -2.0]],   # row 1: all real, negative values
                     [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]])      # row 2: all padding
    padding = tf.constant([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])[..., None]
    pool = MaskedMaxPool()

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = pool(x, padding)
        return y, tape.gradient(y, x)

    for fn in (value_and_grad, tf.function(value_and_grad, jit_compile=True)):
        y, g = fn(x)
        np.testing.assert_array_equal(y, [[3.0, 5.0], [2.0, -1.0], [0.0, 0.0]])
        np.testing.assert_array_equal(g, [[[0, 1], [1, 0], [0, 0]],     # the tie: all to the first position
                                          [[1, 1], [0, 0], [0, 0]],
                                          [[0, 0], [0, 0], [0, 0]]])


def test_xla_gradients_equal_the_plain_ones():
    """The full model's gradients under XLA (``jit_compile``) are finite and match the uncompiled ones."""
    models = build_models(MODEL_CONFIG, C, DW, VOCAB)
    inputs = _batch([12, 7, 3, 10], seed=5)
    rng = np.random.default_rng(6)
    real = inputs["chars"] > 0
    targets = {k: (rng.random(real.shape + ((C,) if k.startswith("object") else ())) < 0.2).astype("float32")
               * (real[..., None] if k.startswith("object") else real)
               for k in ("subject_start", "subject_end", "object_start", "object_end")}

    def grads(inputs, targets):
        with tf.GradientTape() as tape:
            loss = masked_loss(targets, models.train(inputs, training=False), inputs["chars"] > 0)
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, models.train.trainable_variables)]

    plain = grads(inputs, targets)
    for v, a, b in zip(models.train.trainable_variables, tf.function(grads, jit_compile=True)(inputs, targets), plain):
        assert np.isfinite(a).all(), v.path
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=v.path)
