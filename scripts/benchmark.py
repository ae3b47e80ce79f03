#!/usr/bin/env python
"""Training and inference throughput, and peak memory, of the real code paths.

    python scripts/benchmark.py                                    # synthetic data, params.yaml as is
    python scripts/benchmark.py --steps 50 --infer-sentences 512 \\
        --word-vectors models/word2vec --json reports/benchmark.json
    python scripts/benchmark.py --data ../shared/data/duie2/duie_train.json --format duie2 \\
        --schema ../shared/data/duie2/duie_schema.json --sentences 5000
    python scripts/benchmark.py --set model.width=64 --set train.batch_size=64

Training: the model of the ``model`` section of params.yaml (``--set`` overrides any
key; the result is validated as every stage validates params.yaml, before TensorFlow
is imported), batches from ``TrainingBatches.batches`` (shuffled, length-bucketed, augmented
as ``train.augment`` says, padded per batch) and the compiled step of
``dgcnn_ie.train.fresh_state`` (masked BCE, Adam, EMA update). ``--warmup`` untimed
steps (the first one traces the ``tf.function``) come before the ``--steps`` timed
ones; a timed step is making the batch (``next()`` on the batch iterator) plus the
step up to its loss as a Python float, as in ``train_model``.

Inference: ``Extractor.predict`` (subject pass, then one object pass over every
decoded subject of the batch) on the first ``--infer-sentences`` sentences in
``decode.batch_size`` batches, after an untimed warm-up on other texts that traces
both the subject and the object functions. By default the model is the one just
benchmarked (barely trained, so it decodes an arbitrary number of subjects: compare
``object rows per sentence`` with the gold subjects per sentence); ``--extractor DIR``
times a saved, trained extractor instead.

System: the whole submitted system, ``System.predict`` of an exported system folder (each
family's fold models averaged, the families united, prior candidates from its knowledge
base), on the same sentences, after the same kind of warm-up. ``--system DIR`` times a
folder the ensemble stage exported (``system/``); by default one is built with
``--system-folds`` (8) fold models for each family of ``cv.families``, every one a copy of
the inference model (``--extractor``, or the benchmarked one), and a knowledge base built
from the sentences that are not timed. Identical members cost what different ones do
(every member runs its own subject and object passes), and a trained copy decodes as many
subjects as a trained system does. ``--system-folds 0`` skips it.

Word segmentation is part of encoding (``WordVectors.char_aligned``): with
``--segmentation realistic`` (default) the training sentences are segmented before
timing, as in every epoch after the first (augmented texts are segmented afresh
every time, as in training), and the inference sentences are not (new text, as in
prediction); ``warm`` and ``cold`` segment all or none of them beforehand. The
report counts, for the timed parts, how many texts came from the word-row memo,
from the segmenter's caches (``--segment-cache``: an on-disk one) and how many the
segmenter cut.

Without ``--word-vectors`` the word vectors are random (``word2vec.dim`` wide, over
the words of the benchmark sentences), saved to a temporary folder and loaded with
the real ``WordVectors``: the values change nothing in the cost.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / "data" / "synthetic" / "train.json"
DEFAULT_SCHEMA = REPO_ROOT / "data" / "synthetic" / "schema.json"
DEFAULT_PARAMS = REPO_ROOT / "params.yaml"
MODES = ("realistic", "warm", "cold")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (default: the repository's params.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a params key, e.g. model.width=64 (VALUE is YAML); repeatable")
    ap.add_argument("--data", default=None, help=f"LIC2019 / DuIE 2.0 data file (default: {DEFAULT_DATA})")
    ap.add_argument("--schema", default=None, help=f"its schema file (default with the default data: {DEFAULT_SCHEMA})")
    ap.add_argument("--format", default=None, choices=("lic2019", "duie2"), help="data format (default: data.format)")
    ap.add_argument("--sentences", type=int, default=0, help="use the first N labelled sentences (default: all)")
    ap.add_argument("--batch-size", type=int, default=0, help="training batch size (default: train.batch_size)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first (>= 1: the trace)")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--infer-sentences", type=int, default=256, help="sentences decoded in the timed inference")
    ap.add_argument("--infer-batch-size", type=int, default=0, help="decode batch size (default: decode.batch_size)")
    ap.add_argument("--extractor", default=None, help="time inference with this saved extractor instead")
    ap.add_argument("--system", default=None, metavar="DIR",
                    help="time this exported system folder (system/) instead of building one")
    ap.add_argument("--system-folds", type=int, default=8,
                    help="folds per family of the system built from the inference model (0: no system timing)")
    ap.add_argument("--word-vectors", default=None, help="a word vectors folder (e.g. models/word2vec); "
                    "default: random vectors of word2vec.dim")
    ap.add_argument("--segmentation", default="realistic", choices=MODES,
                    help="what is segmented before timing (see the module doc)")
    ap.add_argument("--segment-cache", default=None, metavar="PATH",
                    help="on-disk segmentation cache for the benchmark's segmenters (e.g. the pipeline's "
                    ".cache/segment.sqlite; new texts are added to it); default: none")
    ap.add_argument("--intra-op", type=int, default=None, help="set TF intra-op threads (default: TF's choice)")
    ap.add_argument("--inter-op", type=int, default=None, help="set TF inter-op threads (default: TF's choice)")
    ap.add_argument("--seed", type=int, default=None, help="seed (default: params seed)")
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the figures to this JSON file")
    ap.add_argument("--compare", action="store_true",
                    help="time the project's train step and inference beside the alternatives (plain Keras loop, XLA, "
                         "bf16, no op determinism, JAX) on the same batches; see scripts/benchmark_compare.py")
    ap.add_argument("--compare-rounds", type=int, default=3, help="timed passes per variant (the fastest counts)")
    ap.add_argument("--compare-skip", action="append", default=[], metavar="VARIANT",
                    help="leave a variant out of --compare (repeatable)")
    args = ap.parse_args(argv)
    if args.warmup < 1:
        ap.error("--warmup must be >= 1: the first step traces the tf.function and must not be timed")
    for name in ("steps", "infer_sentences"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("sentences", "batch_size", "infer_batch_size"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0")
    if args.data is not None and args.schema is None:
        ap.error("--data needs --schema")
    return args


def load_config(path, sets: list[str]):
    """The typed, validated `Config` of the params file ``path`` with the ``--set`` overrides applied."""
    from dgcnn_ie.config import config_from_dict, read_params

    params, text = read_params(path)
    if not isinstance(params, dict):
        return config_from_dict(params, str(path), text)        # refused with the config's own message
    return config_from_dict(apply_overrides(params, sets), str(path), text)


def apply_overrides(params: dict, sets: list[str]) -> dict:
    """A copy of ``params`` with each ``"a.b=VALUE"`` applied; the key must exist (typo guard)."""
    from dgcnn_ie.config import OverrideError, apply_overrides as apply_to, yaml_value

    merged = copy.deepcopy(params)          # a copy also when nothing is set
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            merged = apply_to(merged, [(key, yaml_value(raw))], new_keys=False)
        except OverrideError as e:
            missing = f"key {key!r}" if e.part is None else f"section {e.part!r}"
            raise ValueError(f"--set {item!r}: params has no {missing}") from None
    return merged


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class GpuPeak:
    """TF's peak memory on GPU:0 since the last ``reset()``; None without a GPU."""

    def __init__(self, tf):
        self.tf = tf
        self.device = "GPU:0" if tf.config.list_physical_devices("GPU") else None

    def reset(self) -> None:
        if self.device:
            self.tf.config.experimental.reset_memory_stats(self.device)

    def peak_mib(self) -> float | None:
        if not self.device:
            return None
        return self.tf.config.experimental.get_memory_info(self.device)["peak"] / 2**20


def random_vectors(texts: list[str], dim: int, backend: str, seed: int, out_dir: Path) -> tuple[Path, int]:
    """Random vectors for the words of ``texts`` (segmented by a throw-away segmenter), saved as word2vec does."""
    from gensim.models import KeyedVectors

    from dgcnn_ie.segment import get_segmenter
    from dgcnn_ie.word2vec import save_vectors

    with get_segmenter(backend) as segmenter:
        words = sorted({w for ws in segmenter.cut_many(texts, remember=False) for w in ws if not w.isspace()})
    kv = KeyedVectors(dim)
    kv.add_vectors(words, np.random.default_rng(seed).normal(0.0, 0.1, (len(words), dim)).astype(np.float32))
    return save_vectors(kv, out_dir), len(words)


class SegmentationCounter:
    """How the texts encoded between ``start()`` and ``stop(n)`` got their word rows."""

    def __init__(self, segmenter):
        self.segmenter = segmenter

    def start(self) -> None:
        s = self.segmenter
        self._hits, self._misses = (s.hits, s.misses) if s else (0, 0)

    def stop(self, texts: int) -> dict:
        if self.segmenter is None:
            return {"texts": texts, "word_vectors": False}
        cut = self.segmenter.misses - self._misses
        cached = self.segmenter.hits - self._hits
        return {"texts": texts, "from_memo": texts - cut - cached, "from_segmenter_cache": cached,
                "segmented": cut}


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def presegment(word_vectors, samples, max_len: int, counter: SegmentationCounter) -> dict:
    """Segment ``samples`` into the word-row memo before timing (as encoding them does); how long it took."""
    counter.start()
    t0 = time.perf_counter()
    for s in samples:
        word_vectors.char_aligned(s.text[:max_len])
    pre = {"seconds": time.perf_counter() - t0, **counter.stop(len(samples))}
    pre["texts_per_s"] = _rate(len(samples), pre["seconds"])
    return pre


def benchmark_training(args, config, samples, encoder, models, gpu, counter) -> dict:
    from dgcnn_ie.batches import TrainingBatches
    from dgcnn_ie.train import fresh_state, train_specs, warmup_lr, warmup_steps

    train_config, model_config = config.train, config.model
    batch_size = args.batch_size or train_config.batch_size
    seed = args.seed if args.seed is not None else config.seed
    augment, augment_rate = train_config.augment, train_config.augment_rate
    max_len = model_config.max_len

    pre = None
    if args.segmentation in ("realistic", "warm") and counter.segmenter is not None:
        # what the first epoch does; later epochs find these rows in the memo
        pre = presegment(encoder.word_vectors, samples, max_len, counter)

    training = TrainingBatches(encoder)

    def batches():
        for epoch in itertools.count(1):
            yield from training.batches(samples, batch_size, shuffle=True, seed=seed, epoch=epoch,
                                        augment=augment, augment_rate=augment_rate)

    base_lr = train_config.lr
    warmup_lr_steps = warmup_steps(len(samples), batch_size, train_config.warmup_epochs)
    _, _, step = fresh_state(models, base_lr, train_config, train_specs(encoder), config.model.subject_loss_weight)
    it = batches()
    global_step = 0

    def run(n: int) -> dict:
        nonlocal global_step
        batch_s = step_s = 0.0
        sentences = padded = cells = 0
        losses = []
        for _ in range(n):
            t0 = time.perf_counter()
            inputs, targets = next(it)
            t1 = time.perf_counter()
            losses.append(step(inputs, targets, warmup_lr(global_step, warmup_lr_steps, base_lr)))
            t2 = time.perf_counter()
            global_step += 1
            batch_s, step_s = batch_s + (t1 - t0), step_s + (t2 - t1)
            sentences += inputs["chars"].shape[0]
            padded += inputs["chars"].shape[1]
            cells += inputs["chars"].size
        return {"steps": n, "sentences": sentences, "batch_seconds": batch_s, "step_seconds": step_s,
                "seconds": batch_s + step_s, "mean_padded_len": padded / n, "padded_chars": cells,
                "losses": losses}

    gpu.reset()
    warm = run(args.warmup)
    counter.start()
    timed = run(args.steps)
    segmentation = counter.stop(timed["sentences"])
    if not all(np.isfinite(timed["losses"])):
        raise RuntimeError(f"non-finite training loss in the timed steps: {timed['losses']}")
    return {
        "batch_size": batch_size, "augment": augment, "augment_rate": augment_rate,
        "warmup_steps": args.warmup, "warmup_seconds": warm["seconds"],
        "steps": timed["steps"], "sentences": timed["sentences"], "seconds": timed["seconds"],
        "steps_per_s": _rate(timed["steps"], timed["seconds"]),
        "sentences_per_s": _rate(timed["sentences"], timed["seconds"]),
        "padded_chars_per_s": _rate(timed["padded_chars"], timed["seconds"]),
        "step_only_steps_per_s": _rate(timed["steps"], timed["step_seconds"]),
        "batch_seconds": timed["batch_seconds"], "step_seconds": timed["step_seconds"],
        "batch_fraction": timed["batch_seconds"] / timed["seconds"] if timed["seconds"] > 0 else 0.0,
        "mean_padded_len": timed["mean_padded_len"], "last_loss": timed["losses"][-1],
        "pre_segmentation": pre, "segmentation": segmentation,
        "peak_rss_mib": peak_rss_mib(), "gpu_peak_mib": gpu.peak_mib(),
    }


def benchmark_inference(args, config, samples, extractor, gpu, segmenter) -> dict:
    from dgcnn_ie.extractor import TextBatch

    batch_size = args.infer_batch_size or config.decode.batch_size
    timed = samples[:args.infer_sentences]
    max_len = extractor.encoder.max_len
    counter = SegmentationCounter(segmenter)
    # Warm-up on texts that are not timed (the reversed ones), so a cold run stays cold:
    # one predict batch, and one object pass so that the object function is traced too.
    warm_texts = [s.text[::-1] for s in timed[:batch_size]]
    t0 = time.perf_counter()
    extractor.predict(warm_texts, batch_size=batch_size, show_progress=False)
    extractor.object_probs(TextBatch(warm_texts[:1]), np.zeros(1, np.int32), np.zeros((1, 2), np.int32))
    warm_s = time.perf_counter() - t0
    pre = None
    if args.segmentation == "warm" and segmenter is not None:
        pre = presegment(extractor.encoder.word_vectors, timed, max_len, counter)
    # Count the object-model rows (decoded subjects): the object pass is a large part of the cost.
    rows = [0]
    object_probs = extractor.object_probs

    def counting(batch, r, spans):
        rows[0] += len(r)
        return object_probs(batch, r, spans)

    extractor.object_probs = counting
    gpu.reset()
    counter.start()
    t0 = time.perf_counter()
    try:
        pred = extractor.predict(timed, batch_size=batch_size, show_progress=False)
    finally:
        seconds = time.perf_counter() - t0
        del extractor.object_probs
    gold_subjects = [len({t.subject for t in s.triples}) for s in timed]
    out = {
        "sentences": len(timed), "batch_size": batch_size, "warmup_seconds": warm_s, "seconds": seconds,
        "sentences_per_s": _rate(len(timed), seconds), "pre_segmentation": pre,
        "segmentation": counter.stop(len(timed)),
        "object_rows_per_sentence": rows[0] / len(timed),
        "gold_subjects_per_sentence": float(np.mean(gold_subjects)),
        "triples_per_sentence": float(np.mean([len(p) for p in pred])),
        "peak_rss_mib": peak_rss_mib(), "gpu_peak_mib": gpu.peak_mib(),
    }
    out["decoding_representative"] = _representative(out)
    out["object_pass"] = compare_object_pass(extractor, timed, batch_size)
    return out


def compare_object_pass(extractor, timed, batch_size: int) -> dict:
    """``Extractor.predict`` as it is (one encoder pass per sentence, then the object heads on the encoded
    rows of its subjects) beside kg-2019's passes (the subject model, then the object model reading the
    characters again for every subject row), on the same sentences, both with every text already segmented."""
    import tensorflow as tf

    from dgcnn_ie.extractor import input_specs
    from dgcnn_ie.model import OBJECT_INPUTS, SUBJECT_INPUTS

    extractor.predict(timed, batch_size=batch_size, show_progress=False)     # segment every text (untimed)
    t0 = time.perf_counter()
    split = extractor.predict(timed, batch_size=batch_size, show_progress=False)
    split_s = time.perf_counter() - t0
    spec = input_specs(len(extractor.schema), extractor.encoder.word_vectors.dim)
    object_fn = tf.function(lambda x: extractor.models.object(x, training=False),
                            input_signature=[{k: spec[k] for k in OBJECT_INPUTS}])
    subject_fn = tf.function(lambda x: extractor.models.subject(x, training=False),
                             input_signature=[{k: spec[k] for k in SUBJECT_INPUTS}])

    def subject_only(batch):         # the subject model alone, as kg-2019 runs it (no object-head tensors)
        inputs, _ = extractor._encoded(batch)
        out = subject_fn({k: inputs[k] for k in SUBJECT_INPUTS})
        return out["subject_start"].numpy(), out["subject_end"].numpy()

    def reencoding(batch, rows, spans):
        inputs, cands = extractor._encoded(batch)
        rows = np.asarray(rows, dtype=np.int64)
        spans = np.asarray(spans, dtype=np.int32).reshape(-1, 2)
        x = {k: inputs[k][rows] for k in SUBJECT_INPUTS}
        x["object_prior"] = extractor.encoder.object_prior(cands, rows, spans, inputs["chars"].shape[1])
        x["subject_span"] = spans
        out = object_fn(x)
        return out["object_start"].numpy(), out["object_end"].numpy()

    extractor.object_probs, extractor.subject_probs = reencoding, subject_only
    try:
        extractor.predict(timed[:batch_size], batch_size=batch_size, show_progress=False)   # trace (untimed)
        t0 = time.perf_counter()
        again = extractor.predict(timed, batch_size=batch_size, show_progress=False)
        reencoding_s = time.perf_counter() - t0
    finally:
        del extractor.object_probs, extractor.subject_probs
    return {"sentences": len(timed), "split_seconds": split_s, "split_sentences_per_s": _rate(len(timed), split_s),
            "reencoding_seconds": reencoding_s, "reencoding_sentences_per_s": _rate(len(timed), reencoding_s),
            "speedup": reencoding_s / split_s if split_s else None, "same_triples": split == again}


def build_system(config, schema, extractor_dir: Path, vectors_path, kb_samples, folds: int, directory: Path) -> Path:
    """A system folder of ``cv.families`` x ``folds`` members, each a copy of the extractor in ``extractor_dir``
    (for a family with prior features, the same weights saved as a model that reads them)."""
    from dgcnn_ie.decode import Thresholds
    from dgcnn_ie.prior import KnowledgeBase
    from dgcnn_ie.system import Member, export_system

    from dgcnn_ie.extractor import Extractor, load_extractor

    families = list(config.cv.families)
    members = [Member(fam, config.families[fam].prior, tuple(range(folds))) for fam in families]
    uses_prior = any(m.prior for m in members)
    prior_dir = directory.parent / "member-with-prior"       # the same weights, reading prior features
    if uses_prior:
        ex = load_extractor(extractor_dir, word2vec_path=str(vectors_path) if vectors_path else None)
        Extractor(ex.models, ex.encoder, ex.schema, ex.model_config, ex.thresholds, uses_prior=True,
                  word2vec_path=ex.word2vec_path, segmenter=ex.segmenter, normalize=ex.normalize,
                  batch_size=ex.batch_size).save(prior_dir)
    export_system(directory, fmt=schema.format, normalize=config.data.normalize, mode="union", fold_count=folds,
                  members=members,
                  model_dirs={(m.family, f): prior_dir if m.prior else extractor_dir for m in members for f in m.folds},
                  schema=schema,
                  thresholds=Thresholds.from_config(config.decode), batch_size=config.decode.batch_size,
                  word2vec_dir=vectors_path,
                  kb=KnowledgeBase.build(kb_samples, schema) if uses_prior else None)
    return directory


def benchmark_system(args, samples, directory: Path, gpu) -> dict:
    import dataclasses

    from dgcnn_ie.system import System

    t0 = time.perf_counter()
    system = System.load(directory)
    load_s = time.perf_counter() - t0
    timed = samples[:args.infer_sentences]
    warm = [dataclasses.replace(s, text=s.text[::-1]) for s in timed[:system.batch_size]]
    t0 = time.perf_counter()
    system.predict(warm)
    warm_s = time.perf_counter() - t0
    gpu.reset()
    t0 = time.perf_counter()
    pred = system.predict(timed)
    seconds = time.perf_counter() - t0
    return {"source": str(args.system) if args.system else "built: copies of the inference model",
            "members": {m.family: len(m.folds) for m in system.members}, "models": sum(len(m.folds) for m in system.members),
            "prior_families": [m.family for m in system.members if m.prior], "batch_size": system.batch_size,
            "load_seconds": load_s, "warmup_seconds": warm_s, "sentences": len(timed), "seconds": seconds,
            "sentences_per_s": _rate(len(timed), seconds),
            "triples_per_sentence": float(np.mean([len(p) for p in pred])),
            "peak_rss_mib": peak_rss_mib(), "gpu_peak_mib": gpu.peak_mib()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        config = load_config(args.params, args.set)
    except ValueError as e:             # a ConfigError (params file or value) or a bad --set: one line
        raise SystemExit(f"error: {e}") from None
    load_before = load_average()
    started = time.perf_counter()

    import keras
    import tensorflow as tf

    if args.intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)

    from dgcnn_ie.assemble import build_encoder
    from dgcnn_ie.config import as_dict
    from dgcnn_ie.data import load_schema, read_dataset
    from dgcnn_ie.decode import Thresholds
    from dgcnn_ie.extractor import Extractor, load_extractor
    from dgcnn_ie.features import Encoder, NoWordVectors, WordVectors
    from dgcnn_ie.model import build_models
    from dgcnn_ie.segment import get_segmenter
    from dgcnn_ie.backend import enable_determinism
    from dgcnn_ie.train import device_name
    from dgcnn_ie.utils import set_seed

    model_config, data_cfg = config.model, config.data
    seed = args.seed if args.seed is not None else config.seed
    fmt = args.format or data_cfg.format
    data_path = Path(args.data) if args.data else DEFAULT_DATA
    schema_path = Path(args.schema) if args.schema else DEFAULT_SCHEMA
    schema = load_schema(schema_path, fmt)
    read, report = read_dataset(data_path, schema, on_error=data_cfg.on_error, normalize=data_cfg.normalize)
    labelled = [s for s in read if s.labelled]
    samples = labelled[:args.sentences] if args.sentences else labelled
    if not samples:
        raise SystemExit(f"{data_path}: no labelled sentences to train on ({len(read)} read)")
    max_len = model_config.max_len
    lengths = np.array([len(s.text) for s in samples])
    backend = config.segment.backend

    device = device_name()
    op_determinism = enable_determinism(device, print)   # as train_model does
    set_seed(seed)
    gpu = GpuPeak(tf)
    infer_samples = samples[:args.infer_sentences]

    with tempfile.TemporaryDirectory(prefix="dgcnn-bench-") as tmp:
        wv_info: dict = {"used": model_config.use_word_vectors}
        vectors_path = None
        if model_config.use_word_vectors:
            if args.word_vectors:
                vectors_path = Path(args.word_vectors)
                wv_info["source"] = str(vectors_path)
            else:
                t0 = time.perf_counter()
                vectors_path, n_words = random_vectors([s.text[:max_len] for s in samples], config.word2vec.dim,
                                                       backend, seed, Path(tmp) / "word2vec")
                wv_info.update(source="random", words=n_words, build_seconds=time.perf_counter() - t0)
            train_segmenter = get_segmenter(backend, args.segment_cache)
            words = WordVectors(vectors_path, train_segmenter)
            wv_info["dim"] = words.dim
        else:
            train_segmenter, words = None, NoWordVectors(0)
            wv_info.update(source="none (model.use_word_vectors: false)", dim=0)
        encoder = build_encoder(model_config, schema, [s.text for s in samples], words)
        vocab = encoder.vocab
        models = build_models(model_config, len(schema), words.dim, len(vocab))
        if args.compare:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from benchmark_compare import compare, format_comparison
            comparison = compare(args, config, schema, encoder, models, samples, infer_samples)
            results = {"mode": "compare", "device": device, "tensorflow": tf.__version__, "keras": keras.__version__,
                       "python": platform.python_version(), "cpu_count": os.cpu_count(),
                       "load_avg_1m_before": load_before, "load_avg_1m_after": load_average(),
                       "data": {"path": str(data_path), "format": fmt, "sentences": len(samples),
                                "mean_chars": float(lengths.mean())},
                       "model": {"parameters": models.train.count_params(), "config": as_dict(model_config),
                                 "overrides": args.set},
                       "word_vectors": wv_info, "comparison": comparison, "seconds": time.perf_counter() - started}
            print(f"device {device}; TF {tf.__version__}, Keras {keras.__version__}; {os.cpu_count()} CPUs; data "
                  f"{data_path} ({len(samples)} sentences, mean {lengths.mean():.1f} chars); model width "
                  f"{model_config.width}, {models.train.count_params():,} parameters")
            return _emit(results, format_comparison(comparison), args.json)
        train = benchmark_training(args, config, samples, encoder, models, gpu,
                                   SegmentationCounter(train_segmenter))

        thresholds = Thresholds.from_config(config.decode)
        if args.extractor:
            extractor = load_extractor(args.extractor, word2vec_path=args.word_vectors)
            if extractor.uses_prior:
                raise SystemExit(f"{args.extractor}: a prior-feature model needs a knowledge base; "
                                 "benchmark a plain one")
            infer_segmenter = getattr(extractor.encoder.word_vectors, "segmenter", None)
            infer_model = {"source": args.extractor, "parameters": extractor.models.train.count_params(),
                           "config": as_dict(extractor.model_config)}
        else:
            # A fresh WordVectors (own segmenter and memo): the inference texts start unsegmented.
            infer_segmenter = get_segmenter(backend, args.segment_cache) if vectors_path else None
            infer_words = WordVectors(vectors_path, infer_segmenter) if vectors_path else words
            extractor = Extractor(models, Encoder(vocab, infer_words, schema, max_len), schema, model_config,
                                  thresholds, batch_size=config.decode.batch_size)
            infer_model = {"source": "the benchmarked model (not trained)"}
        infer = benchmark_inference(args, config, infer_samples, extractor, gpu, infer_segmenter)
        system = None
        if args.system:
            system = benchmark_system(args, infer_samples, Path(args.system), gpu)
        elif args.system_folds > 0:
            member_dir = Path(args.extractor) if args.extractor else Path(tmp) / "benchmarked-model"
            if not args.extractor:
                extractor.save(member_dir)
            built = build_system(config, schema, member_dir, args.word_vectors or vectors_path,
                                 samples[args.infer_sentences:] or samples, args.system_folds, Path(tmp) / "system")
            system = benchmark_system(args, infer_samples, built, gpu)
        for seg in (train_segmenter, infer_segmenter):
            if seg is not None:
                seg.close()

    results = {
        "device": device, "tensorflow": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": op_determinism,
        "load_avg_1m_before": load_before, "load_avg_1m_after": load_average(),
        "data": {"path": str(data_path), "format": fmt, "read": len(read), "skipped": sum(report.skipped.values()),
                 "sentences": len(samples), "mean_chars": float(lengths.mean()),
                 "mean_chars_clipped": float(np.minimum(lengths, max_len).mean()), "max_chars": int(lengths.max()),
                 "predicates": len(schema), "vocab_size": len(vocab)},
        "model": {"parameters": models.train.count_params(), "config": as_dict(model_config), "overrides": args.set},
        "word_vectors": wv_info, "segmentation": {"backend": backend if vectors_path else None,
                                                  "mode": args.segmentation, "cache": args.segment_cache},
        "train": train, "inference": {**infer, "model": infer_model}, "system": system,
        "peak_rss_mib": peak_rss_mib(), "seconds": time.perf_counter() - started,
    }
    return _emit(results, format_report(results), args.json)


def _emit(results: dict, text: str, json_path: str | None) -> dict:
    """Print the report; write the figures to ``json_path`` too (atomically) when given."""
    from dgcnn_ie.files import atomic_write

    print(text)
    if json_path:
        with atomic_write(json_path) as f:
            json.dump(results, f, ensure_ascii=False, indent=1, default=float)
            f.write("\n")
    return results


def _mib(x) -> str:
    return "n/a" if x is None else f"{x:,.0f} MiB"


def _seg(d: dict | None) -> str:
    if not d:
        return "none"
    if d.get("word_vectors") is False:
        return "no word vectors, no segmentation"
    return (f"{d['texts']} texts: {d['from_memo']} from the word-row memo, "
            f"{d['from_segmenter_cache']} from the segmenter cache, {d['segmented']} segmented")


def _representative(inference: dict) -> bool:
    """Whether the decoded subjects per sentence are within a factor 2 of the gold ones."""
    rows, gold = inference["object_rows_per_sentence"], inference["gold_subjects_per_sentence"]
    return gold == 0 or 0.5 * gold <= rows <= 2 * gold


def format_report(r: dict) -> str:
    t, i, d, m, w = r["train"], r["inference"], r["data"], r["model"], r["word_vectors"]
    threads = lambda n: f"{n}" if n else "0 (TF's choice)"  # noqa: E731
    lines = [
        f"device            {r['device']}; TF {r['tensorflow']}, Keras {r['keras']}, Python {r['python']}",
        f"CPUs              {r['cpu_count']}; intra-op threads {threads(r['intra_op_threads'])}, "
        f"inter-op {threads(r['inter_op_threads'])}; op determinism {'on' if r['op_determinism'] else 'off'}",
        f"load avg (1 min)  {r['load_avg_1m_before']:.2f} before, {r['load_avg_1m_after']:.2f} after"
        if r["load_avg_1m_before"] is not None else "load avg (1 min)  n/a",
        f"data              {d['path']} ({d['format']}): {d['sentences']} sentences, mean {d['mean_chars']:.1f} chars "
        f"({d['mean_chars_clipped']:.1f} clipped to max_len, longest {d['max_chars']}), "
        f"{d['predicates']} predicates, {d['vocab_size']} char ids",
        f"model             {m['config']['arch']}, width {m['config']['width']}, {len(m['config'].get('dilations', []))} "
        f"conv layers, {m['parameters']:,} parameters" + (f"; overrides {' '.join(m['overrides'])}" if m["overrides"] else ""),
        "word vectors      " + ("none" if not w["used"] else
                                f"RANDOM (no --word-vectors), dim {w['dim']}, {w['words']} words (built in "
                                f"{w['build_seconds']:.1f} s)" if w["source"] == "random" else
                                f"{w['source']}, dim {w['dim']}"),
        f"segmentation      {r['segmentation']['backend'] or 'none'}, mode {r['segmentation']['mode']}, "
        f"on-disk cache {r['segmentation']['cache'] or 'none'}",
        "",
        f"training          batch {t['batch_size']}, augment {t['augment']} (rate {t['augment_rate']}); "
        f"{t['warmup_steps']} untimed warm-up steps ({t['warmup_seconds']:.1f} s, trace included)",
        f"  timed           {t['steps']} steps, {t['sentences']} sentences, mean padded length "
        f"{t['mean_padded_len']:.1f}, {t['seconds']:.2f} s ({t['padded_chars_per_s']:,.0f} padded chars/s)",
        f"  throughput      {t['steps_per_s']:.2f} steps/s, {t['sentences_per_s']:.1f} sentences/s "
        f"(step alone: {t['step_only_steps_per_s']:.2f} steps/s; making batches {100 * t['batch_fraction']:.1f}% "
        f"of the time)",
    ]
    if t["pre_segmentation"]:
        p = t["pre_segmentation"]
        lines.append(f"  pre-segmented   before timing: {_seg(p)} in {p['seconds']:.2f} s "
                     f"({p['texts_per_s']:.0f} texts/s)")
    lines += [
        f"  segmentation    in the timed steps: {_seg(t['segmentation'])}",
        f"  peak memory     RSS {_mib(t['peak_rss_mib'])}; GPU {_mib(t['gpu_peak_mib'])}",
        "",
        f"inference         Extractor.predict, {i['model']['source']}, batch {i['batch_size']}; "
        f"warm-up {i['warmup_seconds']:.1f} s (untimed)",
        f"  timed           {i['sentences']} sentences in {i['seconds']:.2f} s: {i['sentences_per_s']:.1f} sentences/s",
        f"  decoding        {i['object_rows_per_sentence']:.2f} object rows (decoded subjects) per sentence, "
        f"gold subjects {i['gold_subjects_per_sentence']:.2f}; {i['triples_per_sentence']:.2f} triples per sentence",
        *([f"  NOTE            the model decodes {i['object_rows_per_sentence']:.2f} subjects per sentence, the data "
            f"has {i['gold_subjects_per_sentence']:.2f}: the object pass is not representative; time a trained "
            "model with --extractor"] if not i["decoding_representative"] else []),
        *([f"  pre-segmented   before timing: {_seg(i['pre_segmentation'])}"] if i["pre_segmentation"] else []),
        f"  segmentation    in the timed run: {_seg(i['segmentation'])}",
        f"  object pass     texts segmented beforehand, same {i['object_pass']['sentences']} sentences: "
        f"{i['object_pass']['split_sentences_per_s']:.1f} sentences/s with one encoder pass per sentence, "
        f"{i['object_pass']['reencoding_sentences_per_s']:.1f} re-encoding per subject as kg-2019 does "
        f"({i['object_pass']['speedup']:.2f}x; same triples: {i['object_pass']['same_triples']})",
        f"  peak memory     RSS {_mib(i['peak_rss_mib'])}; GPU {_mib(i['gpu_peak_mib'])}",
        "",
    ]
    y = r.get("system")
    if y:
        members = " + ".join(f"{fam} x {n}" for fam, n in y["members"].items())
        lines += [
            f"system            System.predict, {y['source']}: {members} = {y['models']} models "
            f"(prior features: {', '.join(y['prior_families']) or 'none'}), batch {y['batch_size']}; "
            f"loaded in {y['load_seconds']:.1f} s, warm-up {y['warmup_seconds']:.1f} s (untimed)",
            f"  timed           {y['sentences']} sentences in {y['seconds']:.2f} s: {y['sentences_per_s']:.1f} "
            f"sentences/s ({i['sentences_per_s'] / y['sentences_per_s']:.1f}x the single model's time per sentence)",
            f"  decoding        {y['triples_per_sentence']:.2f} triples per sentence",
            f"  peak memory     RSS {_mib(y['peak_rss_mib'])}; GPU {_mib(y['gpu_peak_mib'])}",
            "",
        ]
    lines += [
        f"process peak RSS  {_mib(r['peak_rss_mib'])}; total {r['seconds']:.1f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
