"""Backend portability: padding helpers and compiled inference (fast, TensorFlow), and the same model, loss,
EMA and train step under Keras 3's JAX backend (slow; skipped when jax is not installed: `pip install -e
'.[dev]'` installs it).

The JAX runs happen in a subprocess (the backend is fixed when Keras is first imported) in which
TensorFlow cannot be imported, as on a GPU machine that has jax but no TensorFlow: any import of it on the
training and prediction path fails the run.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import test_train
from conftest import repo_params
from dgcnn_ie import backend
from dgcnn_ie.batches import TrainingBatches
from dgcnn_ie.config import config_from_dict
from dgcnn_ie.data import load_schema, read_dataset
from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors

SYNTHETIC = Path(__file__).resolve().parent.parent / "data" / "synthetic"
SRC = Path(__file__).resolve().parent.parent / "src"
# test_train's tiny model and schedule (its plateau reload after epoch 2 runs under JAX too), with dropout 0:
# the TensorFlow and JAX steps see the same weights and batches, so their losses must agree
MODEL = {**test_train.MODEL, "dropout": 0.0, "conv_dropout": 0.0}
TRAIN = {**test_train.TRAIN, "epochs": 2, "augment": False}
STEPS = 6

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (pip install -e '.[dev]' installs it)")


def test_bucket_lengths_cover_every_length_with_few_shapes():
    lengths = {backend.bucket_length(n) for n in range(1, 513)}
    assert len(lengths) <= 8 and all(backend.bucket_length(n) >= n for n in range(1, 2000))
    assert backend.bucket_length(512) == 512 and backend.bucket_length(513) > 512


def test_pad_sequences_pads_the_sequence_axis_only():
    arrays = {"chars": np.ones((2, 5), np.int32), "object_start": np.ones((2, 5, 3), np.float32),
              "subject_span": np.array([[0, 1], [2, 3]], np.int32)}
    padded = backend.pad_sequences(arrays, 8)
    assert padded["chars"].shape == (2, 8) and padded["object_start"].shape == (2, 8, 3)
    assert padded["subject_span"].shape == (2, 2) and padded["chars"][:, 5:].sum() == 0
    np.testing.assert_array_equal(padded["chars"][:, :5], arrays["chars"])


def test_an_op_without_a_deterministic_kernel_switches_determinism_off_with_a_warning_not_a_crash(monkeypatch):
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config
    messages, calls = [], []
    monkeypatch.setattr(backend, "_warn", messages.append)

    def op_without_deterministic_kernel(x):
        calls.append(x)
        if len(calls) == 1 and tf_config.is_op_determinism_enabled():
            raise tf.errors.UnimplementedError(None, None, "A deterministic GPU implementation of X is not available")
        return x + 1

    was_enabled = tf_config.is_op_determinism_enabled()
    try:
        assert backend.enable_determinism("GPU x1 (test)", messages.append) is True
        assert backend.tf_call(op_without_deterministic_kernel, 1) == 2 and len(calls) == 2
        assert not tf_config.is_op_determinism_enabled()
        assert len(messages) == 1 and messages[0].startswith("warning: op determinism switched off")
        with pytest.raises(tf.errors.UnimplementedError):      # any other UnimplementedError is not swallowed
            backend.tf_call(lambda: (_ for _ in ()).throw(tf.errors.UnimplementedError(None, None, "no kernel")))
    finally:
        if was_enabled:
            tf.config.experimental.enable_op_determinism()


@pytest.mark.parametrize("flags, on", [("", False), ("--xla_gpu_deterministic_ops", True),
                                       ("--a=1 --xla_gpu_deterministic_ops=True", True),
                                       ("--xla_gpu_deterministic_ops=false", False)])
def test_xla_determinism_flag_is_parsed(monkeypatch, flags, on):
    monkeypatch.setenv("XLA_FLAGS", flags)
    assert backend._xla_flag_on("xla_gpu_deterministic_ops") is on


def _setup():
    cfg = config_from_dict(repo_params({"model": MODEL, "train": TRAIN}))
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    samples, _ = read_dataset(SYNTHETIC / "train.json", schema)
    samples = samples[:96]
    encoder = Encoder(CharVocab.build([s.text for s in samples], 1), NoWordVectors(0), schema, MODEL["max_len"])
    return cfg, schema, samples, encoder


@pytest.mark.slow
def test_compiled_inference_equals_the_functions_called_directly():
    from dgcnn_ie.model import SUBJECT_INPUTS, build_models
    cfg, schema, samples, encoder = _setup()
    models = build_models(cfg.model, len(schema), 0, len(encoder.vocab))
    inputs = encoder.encode_inputs([s.text for s in samples[:5]])
    compiled = backend.Compiled(models.sentence, models.train.variables)
    got = compiled([inputs[k] for k in SUBJECT_INPUTS])
    want = models.sentence([inputs[k] for k in SUBJECT_INPUTS])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-6)


# The JAX side: run with KERAS_BACKEND=jax and TensorFlow unimportable. It takes the weights and batches the
# TensorFlow side saved, runs the same steps, then trains, saves, loads and decodes with the whole loop.
_JAX_RUN = textwrap.dedent('''
    import importlib.abc, json, sys
    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is not installed here (test: a jax-only machine)")
    sys.meta_path.insert(0, NoTensorFlow())
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_backend import _jax_side
    print(json.dumps(_jax_side(sys.argv[1])))
''')


def _batches(encoder, samples):
    return list(TrainingBatches(encoder).batches(samples, TRAIN["batch_size"], shuffle=True, seed=3, epoch=1,
                                                 augment=False, augment_rate=0.0))[:STEPS]


def _run_steps(models, cfg, batches):
    """STEPS steps of `train.fresh_state`'s step (Adam at lr 3e-3, EMA): the losses, the weights after them
    (read from the Keras variables, so a missing `sync` shows) and the EMA averages."""
    from dgcnn_ie.train import fresh_state, train_specs
    spec = train_specs(_ENCODER) if backend.is_tensorflow() else None
    _, ema, step = fresh_state(models, TRAIN["lr"], cfg.train, spec)
    losses = [step(inputs, targets, TRAIN["lr"]) for inputs, targets in batches]
    step.sync()
    return losses, models.train.get_weights(), [np.asarray(a) for a in ema.averages()]


_ENCODER = None


class _Killed(Exception):
    pass


def _jax_side(folder: str) -> dict:
    """Runs under JAX (see _JAX_RUN): the same steps on the saved weights and batches; compiled inference
    against direct calls; a whole training, then the same training killed after epoch 1 and resumed."""
    global _ENCODER
    import keras
    from dgcnn_ie.extractor import Extractor, load_extractor
    from dgcnn_ie.model import SUBJECT_INPUTS, build_models
    from dgcnn_ie.train import train_model
    assert keras.backend.backend() == "jax"
    folder = Path(folder)
    cfg, schema, samples, encoder = _setup()
    _ENCODER = encoder
    models = build_models(cfg.model, len(schema), 0, len(encoder.vocab))
    saved = np.load(folder / "weights.npz")
    models.train.set_weights([saved[f"w{i}"] for i in range(len(saved.files))])
    data = np.load(folder / "batches.npz")
    batches = [({k[len(f"{i}/in/"):]: data[k] for k in data.files if k.startswith(f"{i}/in/")},
                {k[len(f"{i}/out/"):]: data[k] for k in data.files if k.startswith(f"{i}/out/")})
               for i in range(STEPS)]
    losses, weights, averages = _run_steps(models, cfg, batches)
    np.savez(folder / "jax_weights.npz", *weights)
    np.savez(folder / "jax_averages.npz", *averages)

    # compiled inference (padded to a bucket length and to a power-of-two number of rows) = direct calls
    texts = [s.text[:53] for s in samples[:5]]               # 53 chars: padded to 64
    inputs = encoder.encode_inputs(texts)
    sentence = [inputs[k] for k in SUBJECT_INPUTS]
    compiled = backend.Compiled(models.sentence, models.train.variables)(sentence)
    direct = [np.asarray(t) for t in models.sentence(sentence)]
    spans = np.array([[0, 1], [2, 3], [1, 1]], np.int32)
    head_in = [t[[0, 2, 4]] for t in direct[2:]] + [spans, encoder.object_prior(None, [0, 2, 4], spans,
                                                                               inputs["chars"].shape[1])]   # 3 rows: padded to 4
    compiled_head = backend.Compiled(models.object_head, models.train.variables)(head_in)
    direct_head = [np.asarray(t) for t in models.object_head(head_in)]
    inference_gap = max(float(np.abs(c - d).max()) for c, d in zip(compiled + compiled_head, direct + direct_head))
    shapes_equal = all(c.shape == d.shape for c, d in zip(compiled + compiled_head, direct + direct_head))

    def train(checkpoint, on_epoch=None):
        return train_model(samples[:64], samples[64:], schema=schema, model_config=cfg.model, train_config=cfg.train,
                           encoder=encoder, seed=1, out_dir=folder / "out", checkpoint_dir=folder / checkpoint,
                           on_epoch=on_epoch)

    result = train("ckpt")

    def kill_at_epoch_2(progress):
        if progress["epochs_done"] == 2:
            raise _Killed()

    try:
        train("ckpt_killed", kill_at_epoch_2)
    except _Killed:
        pass
    resumed = train("ckpt_killed")
    extractor = Extractor(result.models, encoder, schema, cfg.model)
    extractor.save(folder / "extractor")
    loaded = load_extractor(folder / "extractor")
    texts = [s.text for s in samples[64:]]
    return {"losses": losses, "history": [h["loss"] for h in result.history],
            "resumed_history": [[h["loss"], h["dev_f1"]] for h in resumed.history],
            "history_f1": [[h["loss"], h["dev_f1"]] for h in result.history],
            "inference_gap": inference_gap, "inference_shapes_equal": shapes_equal,
            "same_predictions": [sorted(map(list, t)) for t in loaded.predict(texts)] ==
                                [sorted(map(list, t)) for t in extractor.predict(texts)],
            "device": result.device}


@pytest.mark.slow
@needs_jax
def test_jax_backend_trains_like_tensorflow_without_importing_it(tmp_path):
    global _ENCODER
    from dgcnn_ie.model import build_models
    cfg, schema, samples, encoder = _setup()
    _ENCODER = encoder
    models = build_models(cfg.model, len(schema), 0, len(encoder.vocab))
    np.savez(tmp_path / "weights.npz", **{f"w{i}": w for i, w in enumerate(models.train.get_weights())})
    batches = _batches(encoder, samples)
    np.savez(tmp_path / "batches.npz", **{f"{i}/{part}/{k}": v for i, (inputs, targets) in enumerate(batches)
                                          for part, d in (("in", inputs), ("out", targets)) for k, v in d.items()})
    tf_losses, tf_weights, tf_averages = _run_steps(models, cfg, batches)

    # TensorFlow unimportable in the subprocess (the _JAX_RUN hook): any import of it fails the run
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _JAX_RUN, str(tmp_path), str(Path(__file__).parent)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jax = json.loads(proc.stdout.strip().splitlines()[-1])

    # identical weights and batches: the same losses step by step, the loss falls, the same weights and
    # EMA averages after the steps (as synced into the Keras variables)
    np.testing.assert_allclose(jax["losses"], tf_losses, rtol=2e-3)
    assert jax["losses"][-1] < jax["losses"][0]
    for name, want in (("jax_weights", tf_weights), ("jax_averages", tf_averages)):
        got = np.load(tmp_path / f"{name}.npz")
        assert len(got.files) == len(want)
        for i, w in enumerate(want):
            np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-2, atol=2e-4, err_msg=f"{name}[{i}]")
    # compiled inference under JAX equals calling the functions directly
    assert jax["inference_shapes_equal"] and jax["inference_gap"] < 1e-5
    # the whole loop (EMA, dev decoding, checkpoints, save and load) ran under JAX without TensorFlow, and a
    # run killed after epoch 1 resumed from its checkpoint to the uninterrupted run's history
    assert jax["history"][-1] < jax["history"][0] and all(np.isfinite(jax["history"]))
    np.testing.assert_allclose(jax["resumed_history"], jax["history_f1"], rtol=1e-5, atol=1e-6)
    assert jax["same_predictions"] and jax["device"] == "CPU"
    assert (tmp_path / "ckpt").is_dir() and (tmp_path / "extractor").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_saves_and_decodes(tmp_path, precision):
    """`train.precision`: the layers compute in bf16/f16 (weights, EMA and loss float32; f16 with loss scaling),
    the loss falls, and the saved model loads and decodes with the same predictions."""
    import keras

    from dgcnn_ie.extractor import Extractor, load_extractor
    from dgcnn_ie.train import train_model
    cfg = config_from_dict(repo_params({"model": MODEL, "train": {**TRAIN, "precision": precision}}))
    _, schema, samples, encoder = _setup()
    result = train_model(samples[:64], samples[64:], schema=schema, model_config=cfg.model, train_config=cfg.train,
                         encoder=encoder, seed=1, out_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt")
    losses = [h["loss"] for h in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    compute = {layer.compute_dtype for layer in result.models.train.layers if layer.weights}
    assert compute == {precision.split("_")[1]}
    assert {str(v.dtype) for v in result.models.train.trainable_variables} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"     # restored after the build
    extractor = Extractor(result.models, encoder, schema, cfg.model)
    extractor.save(tmp_path / "extractor")
    texts = [s.text for s in samples[64:]]
    assert load_extractor(tmp_path / "extractor").predict(texts) == extractor.predict(texts)


GPU_CHECK = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.sh"


def test_gpu_check_on_a_machine_without_gpu_says_so_and_exits_0():
    proc = subprocess.run([str(GPU_CHECK)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "GPUs: none" in proc.stdout and "no GPU on this machine: nothing to check (exit 0)" in proc.stdout


@pytest.mark.slow
def test_gpu_check_runs_every_check_on_cpu_when_allowed(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run([str(GPU_CHECK), "--allow-cpu", "--tiny", "--json", str(out)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["device"] == "CPU" and report["peak_gpu_mib"] is None and "ok: ran on the CPU" in proc.stdout
    assert report["train_steps_per_second"] > 0 and report["infer_sentences_per_second"] > 0
    assert 0.0 <= report["dev_f1"] <= 1.0 and np.isfinite(report["last_loss"])
