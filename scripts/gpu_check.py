#!/usr/bin/env python
"""Does the model run on this machine's GPU, and how fast? (``scripts/gpu_check.sh`` runs this.)

Under whichever Keras backend is installed (``KERAS_BACKEND`` if set; else TensorFlow when it imports,
else JAX), with no network and nothing installed: the full-size model of params.yaml on the embedded
synthetic sentences (``data/synthetic``) at batch 64 (the method's), word vectors replaced by random
per-character vectors of the same width (no segmenter, no gensim: the cost is the same).

Prints the device, training steps/s and sentences/s, inference sentences/s, peak GPU memory, and the dev
F1 of a short training (``--epochs`` epochs of the same model at the default batch size on the 1000
synthetic training sentences, decoded on its 200 dev sentences). Exit status: 0 when the model ran on the
GPU (or when there is no GPU: it says so), 1 when a GPU is there but the model's weights did not live on
it, 2 when no Keras backend can be imported.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
SYNTHETIC = REPO_ROOT / "data" / "synthetic"


def choose_backend() -> str | None:
    """``KERAS_BACKEND`` if set, else the first of tensorflow and jax that is installed (set for Keras)."""
    chosen = os.environ.get("KERAS_BACKEND")
    if not chosen:
        chosen = next((b for b in ("tensorflow", "jax") if importlib.util.find_spec(b) is not None), None)
        if chosen:
            os.environ["KERAS_BACKEND"] = chosen
    return chosen


class RandomCharVectors:
    """Random ``dim``-wide vectors per character: the model's word-vector input, without a segmenter."""

    def __init__(self, dim: int, seed: int = 0):
        self.dim = dim
        self._table = np.random.default_rng(seed).normal(0.0, 0.1, (4096, dim)).astype(np.float32)

    def char_aligned(self, text: str, remember: bool = True) -> np.ndarray:
        return self._table[[ord(c) % len(self._table) for c in text]]


def peak_gpu_mib() -> float | None:
    from dgcnn_ie import backend
    if backend.is_tensorflow():
        import tensorflow as tf
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    return stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None


def weights_device(models) -> str:
    """Where the model's first weight lives, as the backend names it."""
    from dgcnn_ie import backend
    value = models.train.trainable_variables[0].value
    if backend.is_tensorflow():
        return value.device
    return ", ".join(f"{d.platform}:{d.id}" for d in value.devices())


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30, help="timed training steps (after one untimed pass)")
    ap.add_argument("--epochs", type=int, default=12, help="epochs of the short training whose dev F1 is shown")
    ap.add_argument("--allow-cpu", action="store_true", help="run every check on the CPU too (to test this "
                    "script where there is no GPU; the exit status is then 0)")
    ap.add_argument("--tiny", action="store_true", help="a small model and 1 epoch (with --allow-cpu: a quick test)")
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the figures to this JSON file")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    chosen = choose_backend()
    if chosen is None:
        print("gpu_check: neither TensorFlow nor JAX can be imported: no Keras backend to check")
        return 2
    try:
        from dgcnn_ie import backend
        backend.gpu_devices()            # imports the backend's framework
    except ImportError as exc:           # Keras, the backend or a dependency missing or broken
        print(f"gpu_check: cannot import Keras with backend {chosen}: {exc}")
        return 2
    gpus = backend.gpu_devices()
    print(f"backend: {backend.name()}; GPUs: {', '.join(gpus) if gpus else 'none'}")
    if not gpus and not args.allow_cpu:
        print("no GPU on this machine: nothing to check (exit 0)")
        return 0

    import dataclasses

    from dgcnn_ie.assemble import build_encoder
    from dgcnn_ie.batches import TrainingBatches
    from dgcnn_ie.config import load_config
    from dgcnn_ie.data import load_schema, read_dataset
    from dgcnn_ie.extractor import Extractor
    from dgcnn_ie.metrics import score
    from dgcnn_ie.model import build_models
    from dgcnn_ie.train import fresh_state, train_model, train_specs
    from dgcnn_ie.utils import set_seed

    config = load_config(REPO_ROOT / "params.yaml")
    model_config, train_config = config.model, config.train
    if args.tiny:
        model_config = dataclasses.replace(model_config, width=16, dilations=(1, 2, 5), heads=2, head_size=8)
        args.epochs, args.steps = 1, 3
    schema = load_schema(SYNTHETIC / "schema.json", "lic2019")
    train, _ = read_dataset(SYNTHETIC / "train.json", schema)
    dev, _ = read_dataset(SYNTHETIC / "dev.json", schema)
    encoder = build_encoder(model_config, schema, [s.text for s in train], RandomCharVectors(config.word2vec.dim))
    device = backend.device_name()
    backend.enable_determinism(device, print)
    report = {"backend": backend.name(), "device": device}

    # training throughput: the method's batch (64), one untimed pass first (every shape compiled)
    set_seed(config.seed)
    models = build_models(model_config, len(schema), encoder.word_vectors.dim, len(encoder.vocab))
    _, _, step = fresh_state(models, train_config.lr, train_config, train_specs(encoder),
                             model_config.subject_loss_weight)

    training = TrainingBatches(encoder)

    def batches(epoch):
        return training.batches(train, 64, shuffle=True, seed=config.seed, epoch=epoch, augment=False, augment_rate=0.0)

    t0 = time.perf_counter()
    for inputs, targets in batches(1):
        step(inputs, targets, train_config.lr)
    report["first_pass_seconds"] = round(time.perf_counter() - t0, 2)
    done, sentences, epoch = 0, 0, 2
    t0 = time.perf_counter()
    while done < args.steps:
        for inputs, targets in batches(epoch):
            loss = step(inputs, targets, train_config.lr)
            done, sentences = done + 1, sentences + len(inputs["chars"])
            if done == args.steps:
                break
        epoch += 1
    seconds = time.perf_counter() - t0
    step.sync()
    report.update(train_steps_per_second=round(done / seconds, 2), train_sentences_per_second=round(sentences / seconds, 1),
                  last_loss=round(float(loss), 4), weights_on=weights_device(models))

    # inference throughput on the dev sentences, after an untimed pass over them
    extractor = Extractor(models, encoder, schema, model_config)
    texts = [s.text for s in dev]
    extractor.predict(texts, show_progress=False)
    t0 = time.perf_counter()
    extractor.predict(texts, show_progress=False)
    report["infer_sentences_per_second"] = round(len(texts) / (time.perf_counter() - t0), 1)

    # a short training and its dev F1
    t0 = time.perf_counter()
    result = train_model(train, dev, schema=schema, model_config=model_config,
                         train_config=dataclasses.replace(train_config, epochs=args.epochs), encoder=encoder,
                         seed=config.seed, out_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "dgcnn_ie_gpu_check",
                         log=lambda _: None)
    pred = Extractor(result.models, encoder, schema, model_config).predict(texts, show_progress=False)
    report.update(short_training_epochs=args.epochs, short_training_seconds=round(time.perf_counter() - t0, 1),
                  dev_f1=round(score([set(s.triples) for s in dev], pred, schema.format)["f1"], 4))
    report["peak_gpu_mib"] = round(peak_gpu_mib(), 1) if gpus else None

    for key, value in report.items():
        print(f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    on_gpu = "gpu" in report["weights_on"].lower()
    if gpus and not on_gpu:
        print(f"FAILED: a GPU is there ({', '.join(gpus)}) but the weights live on {report['weights_on']}")
        return 1
    print("ok: the model ran on the GPU" if gpus else "ok: ran on the CPU (--allow-cpu); no GPU here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
