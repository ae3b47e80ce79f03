"""``scripts/benchmark.py --compare``: the project's train step and inference beside the alternatives, in one
process, on the same batches, from the same initial weights.

Training variants (each its own copy of the model, set to the same initial weights):

- ``project``: what ``train_model`` runs (`dgcnn_ie.backend.TrainStep`: masked loss, Adam, EMA update),
  op determinism on (as on CPU in the pipeline), no XLA.
- ``keras_loop``: the same model trained by Keras's own compiled train function (``train_on_batch``:
  per-position binary cross-entropy of each output weighted by the padding mask, Adam with Keras's own
  sparse embedding updates), no EMA: the pipeline's tax is ``project`` time / ``keras_loop`` time.
- ``xla``: the project's step compiled with XLA (``tf.function(jit_compile=True)``).
- ``bf16``: the project's step on a model built under Keras's ``mixed_bfloat16`` policy.
- ``no_determinism``: the project's step with TensorFlow's op determinism off.
- ``jax``: the project's step under Keras's JAX backend, in a subprocess (the backend is fixed per process)
  on the same batches and initial weights, handed over in files.

Every variant first runs one untimed pass over the batches (every shape traced or compiled; its seconds
are reported as ``first_pass_seconds``), then ``--compare-rounds`` timed passes; a pass is timed as a
whole, the variants take turns, and the fastest pass of each counts. The batches are made beforehand:
what is timed is the step alone, its loss returned as a Python float, as ``train_model`` does.

Inference variants: ``Extractor.predict`` on the inference sentences with the project's compiled
functions, with XLA, with the bf16 model, and without op determinism, timed the same way.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN_VARIANTS = ("project", "keras_loop", "xla", "bf16", "no_determinism", "jax")
INFER_VARIANTS = ("project", "xla", "bf16", "no_determinism")


def _set_determinism(on: bool) -> None:
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config   # no public disable in TF 2.21
    if on:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


def _determinism_on() -> bool:
    from tensorflow.python.framework import config as tf_config
    return bool(tf_config.is_op_determinism_enabled())


def _build(config, schema, encoder, weights, policy: str = "float32"):
    from dgcnn_ie.backend import DtypePolicy
    from dgcnn_ie.model import build_models
    with DtypePolicy(policy):
        models = build_models(config.model, len(schema), encoder.word_vectors.dim, len(encoder.vocab))
    models.train.set_weights(weights)
    return models


def _project_step(config, models, encoder, *, jit_compile: bool = False):
    from dgcnn_ie.train import fresh_state, train_specs
    _, _, step = fresh_state(models, config.train.lr, config.train, train_specs(encoder),
                             config.model.subject_loss_weight, jit_compile=jit_compile)
    return lambda inputs, targets: step(inputs, targets, config.train.lr)


def _keras_loop(config, models):
    import keras

    from dgcnn_ie.model import OBJECT_OUTPUTS, SUBJECT_OUTPUTS
    model = models.train
    def elementwise_bce(y_true, y_pred):     # per position (and predicate), so the padding mask can weight it
        return keras.ops.binary_crossentropy(y_true, y_pred)

    model.compile(optimizer=keras.optimizers.Adam(config.train.lr),
                  loss={k: elementwise_bce for k in SUBJECT_OUTPUTS + OBJECT_OUTPUTS})

    def step(inputs, targets):
        mask = (inputs["chars"] > 0).astype(np.float32)
        weights = {**{k: mask for k in SUBJECT_OUTPUTS}, **{k: mask[..., None] for k in OBJECT_OUTPUTS}}
        from dgcnn_ie.backend import tf_call
        result = tf_call(lambda: model.train_on_batch(inputs, targets, sample_weight=weights))  # [total, per output]
        return float(result[0] if isinstance(result, (list, tuple)) else result)

    return step


def _time_passes(step, batches, rounds_done: list) -> float:
    t0 = time.perf_counter()
    losses = [step(inputs, targets) for inputs, targets in batches]
    seconds = time.perf_counter() - t0
    rounds_done.append({"seconds": seconds, "first_loss": losses[0], "last_loss": losses[-1],
                        "finite": bool(np.all(np.isfinite(losses)))})
    return seconds


def _jax_subprocess(config_path: str, sets: list[str], batches, weights, rounds: int, folder: Path,
                    meta: dict) -> dict:
    """The project's step under KERAS_BACKEND=jax on the same batches and initial weights (files in ``folder``)."""
    np.savez(folder / "weights.npz", *weights)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    np.savez(folder / "batches.npz", **{f"{i}/{part}/{k}": v for i, (inputs, targets) in enumerate(batches)
                                        for part, d in (("in", inputs), ("out", targets)) for k, v in d.items()})
    # JAX on whatever the machine has (JAX_PLATFORMS as the caller set it); the parent TensorFlow process
    # holds GPU memory already, so JAX must not reserve most of it up front
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--jax-worker", str(folder), config_path,
           str(len(batches)), str(rounds), json.dumps(sets)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _jax_worker(folder: str, config_path: str, n_batches: str, rounds: str, sets: str) -> None:
    """Runs under KERAS_BACKEND=jax: builds the model, loads the weights and batches, times as the parent does."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("benchmark", Path(__file__).resolve().parent / "benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    from dgcnn_ie.model import build_models
    from dgcnn_ie.train import fresh_state
    import jax

    config = benchmark.load_config(config_path, json.loads(sets))
    folder = Path(folder)
    data = np.load(folder / "batches.npz")
    batches = [({k.split("/", 2)[2]: data[k] for k in data.files if k.startswith(f"{i}/in/")},
                {k.split("/", 2)[2]: data[k] for k in data.files if k.startswith(f"{i}/out/")})
               for i in range(int(n_batches))]
    saved = np.load(folder / "weights.npz")
    weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    models = build_models(config.model, meta["num_predicates"], meta["word_dim"], meta["vocab_size"])
    models.train.set_weights(weights)
    _, _, step = fresh_state(models, config.train.lr, config.train, None, config.model.subject_loss_weight)
    t0 = time.perf_counter()
    for inputs, targets in batches:
        step(inputs, targets, config.train.lr)
    first_pass = time.perf_counter() - t0
    passes: list = []
    for _ in range(int(rounds)):
        _time_passes(lambda i, t: step(i, t, config.train.lr), batches, passes)
    print(json.dumps({"first_pass_seconds": first_pass, "passes": passes, "jax": jax.__version__,
                      "devices": [str(d) for d in jax.devices()]}))


def compare(args, config, schema, encoder, models, samples, infer_samples) -> dict:
    """The comparison (module docstring); ``models`` give the initial weights."""
    import itertools

    from dgcnn_ie.batches import TrainingBatches
    from dgcnn_ie.decode import Thresholds
    from dgcnn_ie.extractor import Extractor

    batch_size = args.batch_size or config.train.batch_size
    seed = args.seed if args.seed is not None else config.seed

    training = TrainingBatches(encoder)

    def all_batches():
        for epoch in itertools.count(1):
            yield from training.batches(samples, batch_size, shuffle=True, seed=seed, epoch=epoch,
                                        augment=config.train.augment, augment_rate=config.train.augment_rate)

    batches = list(itertools.islice(all_batches(), args.steps))
    weights = models.train.get_weights()
    variants = [v for v in TRAIN_VARIANTS if v not in args.compare_skip]
    steps, built = {}, {}
    for name in variants:
        if name == "jax":
            continue
        m = _build(config, schema, encoder, weights, "mixed_bfloat16" if name == "bf16" else "float32")
        built[name] = m
        steps[name] = (_keras_loop(config, m) if name == "keras_loop"
                       else _project_step(config, m, encoder, jit_compile=name == "xla"))
    train: dict = {}
    for name, step in steps.items():       # the untimed first pass: every shape traced / compiled
        _set_determinism(name != "no_determinism")
        t0 = time.perf_counter()
        losses = [step(i, t) for i, t in batches]
        train[name] = {"first_pass_seconds": time.perf_counter() - t0, "passes": [],
                       "first_pass_finite": bool(np.all(np.isfinite(losses)))}
    for _ in range(args.compare_rounds):
        for name, step in steps.items():
            _set_determinism(name != "no_determinism")
            _time_passes(step, batches, train[name]["passes"])
            # an op without a deterministic kernel (GPU) switches determinism off mid-pass: say so
            train[name]["deterministic"] = train[name].get("deterministic", True) and _determinism_on()
    _set_determinism(True)
    if "jax" in variants:
        with tempfile.TemporaryDirectory(prefix="dgcnn-compare-") as tmp:
            meta = {"num_predicates": len(schema), "word_dim": encoder.word_vectors.dim, "vocab_size": len(encoder.vocab)}
            train["jax"] = _jax_subprocess(str(args.params), args.set, batches, weights, args.compare_rounds, Path(tmp),
                                           meta)
    sentences = sum(len(i["chars"]) for i, _ in batches)
    for name, r in train.items():
        if "passes" in r and r["passes"]:
            best = min(p["seconds"] for p in r["passes"])
            r.update(best_seconds=best, steps_per_s=len(batches) / best, sentences_per_s=sentences / best,
                     finite=all(p["finite"] for p in r["passes"]))
    base = train.get("project", {}).get("best_seconds")
    for r in train.values():
        if base and "best_seconds" in r:
            r["speed_vs_project"] = base / r["best_seconds"]

    # inference: Extractor.predict with each variant's compiled functions, all on the weights the project's
    # step reached (the same subjects to decode, as far as the variant's numerics allow)
    texts = [s.text for s in infer_samples]
    infer: dict = {}
    thresholds = Thresholds.from_config(config.decode)
    trained = (built["project"].train.get_weights() if "project" in built else weights)
    for name in [v for v in INFER_VARIANTS if v not in args.compare_skip]:
        m = _build(config, schema, encoder, trained, "mixed_bfloat16" if name == "bf16" else "float32")
        extractor = Extractor(m, encoder, schema, config.model, thresholds, batch_size=config.decode.batch_size,
                              jit_compile=name == "xla")
        _set_determinism(name != "no_determinism")
        t0 = time.perf_counter()
        extractor.predict(texts, show_progress=False)
        first = time.perf_counter() - t0
        seconds = []
        for _ in range(args.compare_rounds):
            t0 = time.perf_counter()
            pred = extractor.predict(texts, show_progress=False)
            seconds.append(time.perf_counter() - t0)
        infer[name] = {"first_pass_seconds": first, "best_seconds": min(seconds),
                       "sentences_per_s": len(texts) / min(seconds),
                       "triples": sum(len(p) for p in pred)}
    _set_determinism(True)
    base = infer.get("project", {}).get("best_seconds")
    for r in infer.values():
        if base:
            r["speed_vs_project"] = base / r["best_seconds"]
    return {"steps": len(batches), "sentences": sentences, "batch_size": batch_size, "rounds": args.compare_rounds,
            "train": train, "inference": {"sentences": len(texts), "variants": infer},
            "initial_loss_note": "the models are untrained: the same initial weights for every variant"}


def format_comparison(c: dict) -> str:
    lines = [f"comparison        {c['steps']} training steps of batch {c['batch_size']} ({c['sentences']} sentences), "
             f"fastest of {c['rounds']} timed passes each, after one untimed pass",
             f"  {'variant':<16}{'steps/s':>9}{'sent/s':>9}{'vs project':>12}{'first pass s':>14}  losses"]
    for name, r in c["train"].items():
        if "error" in r:
            lines.append(f"  {name:<16} failed: {r['error']}")
            continue
        finite = "finite" if r.get("finite") and r.get("first_pass_finite", True) else "NON-FINITE"
        p = r["passes"][-1]
        where = f"; on {', '.join(r['devices'])}" if "devices" in r else ""
        nondet = "; determinism switched off by an op" if r.get("deterministic") is False and name != "no_determinism" else ""
        lines.append(f"  {name:<16}{r['steps_per_s']:>9.2f}{r['sentences_per_s']:>9.1f}"
                     f"{r.get('speed_vs_project', float('nan')):>11.2f}x{r['first_pass_seconds']:>14.1f}  "
                     f"{finite} (last pass {p['first_loss']:.4f} -> {p['last_loss']:.4f}){where}{nondet}")
    i = c["inference"]
    lines += ["", f"  inference       Extractor.predict on {i['sentences']} sentences",
              f"  {'variant':<16}{'sent/s':>9}{'vs project':>12}{'first pass s':>14}  triples"]
    for name, r in i["variants"].items():
        lines.append(f"  {name:<16}{r['sentences_per_s']:>9.1f}{r.get('speed_vs_project', float('nan')):>11.2f}x"
                     f"{r['first_pass_seconds']:>14.1f}  {r['triples']}")
    return "\n".join(lines)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--jax-worker":
    _jax_worker(*sys.argv[2:])
