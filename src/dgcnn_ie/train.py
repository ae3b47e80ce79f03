"""The training loop (method.md §4).

A compiled step (masked BCE, Adam, bias-corrected EMA update; a ``tf.function`` under TensorFlow, a jitted
pure function under JAX: `dgcnn_ie.backend.TrainStep`) runs over ``Encoder.batches``; the learning rate rises linearly over the first
``warmup_epochs`` epochs (per step). After every epoch the dev set is decoded
with the EMA weights applied and scored; the best EMA weights are kept (on a tie, the later epoch's;
kg-2019 keeps the earlier one). When :func:`plateau_reached` says so, the best weights are reloaded and
training goes on at ``lr_after_plateau`` with a fresh optimiser (as kg-2019) and a fresh bias-corrected EMA
(kg-2019's average is not restarted: its reset is overwritten at the next step, docs/deviations.md T2): once
on a plateau, and at ``plateau_force_epoch`` whether or not a plateau came first (kg-2019 reloads at epoch
50 in either case). Without a dev set, a seeded 10% of the training samples is
held out for model selection (:func:`split_holdout`).

On CPU the run is deterministic for a given seed (op determinism is enabled); on a GPU only where the
backend supports deterministic kernels (`dgcnn_ie.backend.enable_determinism`, otherwise a logged warning).
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import backend, checkpoint, layout
from .config import ModelConfig, TrainConfig, as_dict
from .data import Sample, Schema, atomic_write
from .decode import Thresholds
from .ema import BiasCorrectedEMA
from .extractor import Extractor, input_specs, progress
from .features import BATCH_ORDER, Encoder, WordVectors
from .metrics import score
from .model import Models, build_models, has_softmax_objects, masked_loss
from .utils import deferred_stop, raise_if_stopped, set_seed
from .utils import log as default_log

HOLDOUT_FRACTION = 0.1
HISTORY_FIELDS = ("epoch", "loss", "dev_precision", "dev_recall", "dev_f1", "lr", "seconds", "reloaded")


@dataclass
class TrainResult:
    """The models (best EMA weights loaded), per-epoch history and the best dev scores."""

    models: Models
    history: list[dict]
    best_epoch: int                      # 1-based; 0 when no epoch ran
    best: dict                           # dev precision / recall / f1 of the best epoch
    seconds: float
    device: str
    dev_samples: list[Sample] = field(repr=False)   # what model selection used (dev or held-out part)
    heldout: bool = False
    fingerprint: str = ""                # of everything the training depended on (`checkpoint`)


def warmup_lr(step: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate of 0-based ``step``: ``base_lr * (step + 1) / warmup_steps`` during warm-up."""
    if warmup_steps <= 0:
        return base_lr
    return base_lr * min(1.0, (step + 1) / warmup_steps)


def warmup_steps(n_samples: int, batch_size: int, warmup_epochs: float) -> int:
    """Steps of the linear warm-up: ``warmup_epochs`` epochs of ``ceil(n_samples / batch_size)`` steps."""
    return int(round(float(warmup_epochs) * math.ceil(n_samples / batch_size)))


def plateau_reached(f1s: Sequence[float], *, min_epoch: int, patience: int, min_f1: float,
                    force_epoch: int, after_plateau: bool = False) -> bool:
    """kg-2019's rule, checked after each epoch with the dev F1s so far: exactly ``force_epoch`` epochs
    done (0: never), also after an earlier plateau; or, before any plateau (not ``after_plateau``), more
    than ``min_epoch`` epochs done and either the last F1 is below ``min_f1`` or the best (first maximum)
    is ``patience`` or more epochs old. kg-2019: ``epoch + 1 == 50 or (stage == 0 and epoch > 10 and
    (f1 < 0.5 or argmax(F1) < len(F1) - 8))`` with a 0-based epoch, i.e. force_epoch 50, min_epoch 11,
    min_f1 0.5, patience 8."""
    n = len(f1s)
    if force_epoch and n == force_epoch:
        return True
    if after_plateau or n <= min_epoch:
        return False
    return f1s[-1] < min_f1 or (n - 1 - int(np.argmax(f1s))) >= patience


def reload_due(f1s: Sequence[float], *, epochs: int, cfg: TrainConfig, after_plateau: bool) -> bool:
    """Whether the training reloads its best weights and drops the lr after the epoch that gave the last
    of ``f1s`` (never after the last epoch: nothing would train at the lower lr)."""
    return len(f1s) < epochs and plateau_reached(f1s, min_epoch=cfg.plateau_min_epoch, patience=cfg.plateau_patience,
                                                 min_f1=cfg.plateau_min_f1, force_epoch=cfg.plateau_force_epoch,
                                                 after_plateau=after_plateau)


def split_holdout(samples: Sequence, seed: int, fraction: float = HOLDOUT_FRACTION) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): a seeded ``fraction`` (at least one sample) held out, order kept."""
    n = len(samples)
    if n < 2:
        raise ValueError(f"cannot hold out a dev part of {n} training sample(s)")
    k = max(1, int(round(n * fraction)))
    held = set(np.random.default_rng(seed).permutation(n)[:k].tolist())
    return [i for i in range(n) if i not in held], sorted(held)


def device_name() -> str:
    """``"GPU x<n> (<names>)"`` or ``"CPU"``: where the backend runs the model."""
    return backend.device_name()


def train_specs(encoder: Encoder) -> tuple[dict, dict] | None:
    """``(inputs, targets)`` TensorSpecs of ``encoder.batches`` (batch and length dims free) under
    TensorFlow; None under JAX, whose step needs no signature."""
    if not backend.is_tensorflow():
        return None
    import tensorflow as tf
    c = encoder.num_predicates
    inputs = input_specs(c, encoder.word_vectors.dim)
    targets = {"subject_start": tf.TensorSpec([None, None], tf.float32),
               "subject_end": tf.TensorSpec([None, None], tf.float32),
               "object_start": tf.TensorSpec([None, None, c], tf.float32),
               "object_end": tf.TensorSpec([None, None, c], tf.float32)}
    return inputs, targets


def make_step(models: Models, optimizer, ema: BiasCorrectedEMA | None, specs, subject_weight: float = 1.0,
              *, jit_compile: bool = False) -> backend.TrainStep:
    """One compiled optimisation step ``(inputs, targets, lr) -> loss``; shapes vary freely. ``subject_weight``:
    `model.subject_loss_weight`; ``jit_compile``: XLA under TensorFlow (JAX always compiles with XLA)."""
    softmax_objects = has_softmax_objects(models)

    def loss_fn(targets, outputs, inputs):
        return masked_loss(targets, outputs, inputs["chars"] > 0, softmax_objects, subject_weight)

    return backend.TrainStep(models, optimizer, ema, loss_fn, specs, jit_compile=jit_compile)


def fresh_state(models: Models, lr: float, cfg_train: TrainConfig, specs, subject_weight: float = 1.0,
                *, jit_compile: bool = False):
    """A new Adam optimiser, EMA (``train.ema``, ``train.ema_decay``) and compiled :func:`make_step`."""
    optimizer = backend.make_optimizer(lr, cfg_train.precision)
    optimizer.build(models.train.trainable_variables)
    ema = (BiasCorrectedEMA(models.train.trainable_variables, cfg_train.ema_decay)
           if cfg_train.ema else None)
    return optimizer, ema, make_step(models, optimizer, ema, specs, subject_weight, jit_compile=jit_compile)


def _write_history(out_dir: Path, history: list[dict]) -> None:
    with atomic_write(out_dir / layout.HISTORY_JSON) as f:
        json.dump(history, f, indent=1)
        f.write("\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_write(out_dir / layout.HISTORY_CSV) as f:
        f.write(buf.getvalue())


def _fingerprint(train_samples, dev_samples, *, schema: Schema, cfg_model: ModelConfig, cfg_train: TrainConfig,
                 encoder: Encoder, seed: int, thresholds: Thresholds, decode_batch_size: int, kb_candidates,
                 dev_candidates) -> str:
    """Everything a training's result depends on, hashed: a checkpoint of another fingerprint is not resumed."""
    words = encoder.word_vectors
    word_id = words.digest if isinstance(words, WordVectors) else f"none:{words.dim}"

    def samples_id(samples):
        return checkpoint.digest([(s.text, sorted(s.triples)) for s in samples])

    return checkpoint.digest(
        {"model_config": as_dict(cfg_model), "train_config": as_dict(cfg_train), "seed": seed,
         "thresholds": [thresholds.start, thresholds.end], "decode_batch_size": decode_batch_size,
         "format": schema.format, "predicates": list(schema.predicates), "chars": encoder.vocab.chars,
         "min_char_count": encoder.vocab.min_count, "max_len": encoder.max_len, "words": word_id,
         "train_samples": samples_id(train_samples), "dev_samples": samples_id(dev_samples),
         "candidates": checkpoint.digest(kb_candidates, dev_candidates), "batch_order": BATCH_ORDER})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# every state key a resume reads, and what its value must be: `checkpoint.load` checks them (and the arrays'
# shapes) before anything is assigned, so a damaged checkpoint is set aside instead of half resumed
_RESUME_FIELDS = {
    "epoch": _count, "global_step": _count, "best_epoch": _count, "best_f1": _number, "seconds": _number,
    "after_plateau": lambda v: isinstance(v, bool), "best_scores": lambda v: isinstance(v, dict),
    "history": lambda v: isinstance(v, list) and all(
        isinstance(row, dict) and set(row) == set(HISTORY_FIELDS) and _number(row["dev_f1"]) for row in v),
    "encoder_stats": lambda v: isinstance(v, dict) and all(isinstance(k, str) and _count(n) for k, n in v.items()),
    "encoder_clipped": lambda v: isinstance(v, list) and all(isinstance(h, str) for h in v),
}


def _shapes(variables) -> list[tuple]:
    return [tuple(v.shape) for v in variables]


def _assign(variables, values) -> None:
    """Values whose count and shapes `checkpoint.load` has checked (``strict``: a mismatch is a bug here)."""
    for var, value in zip(variables, values, strict=True):
        var.assign(value)


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def train_model(train_samples: Sequence[Sample], dev_samples: Sequence[Sample] | None, *, schema: Schema,
                cfg_model: ModelConfig, cfg_train: TrainConfig, encoder: Encoder, seed: int, out_dir,
                thresholds: Thresholds = Thresholds(), decode_batch_size: int = 64,
                kb_candidates: Sequence[list] | None = None,
                dev_candidates: Sequence[list] | None = None,
                checkpoint_dir=None, label: str = "model 1/1", on_epoch: Callable[[dict], None] | None = None,
                log: Callable[[str], None] = default_log) -> TrainResult:
    """Train one model; writes ``out_dir/history.json`` and ``history.csv`` after every epoch.

    ``kb_candidates[i]`` are the (self-excluded) prior candidates of ``train_samples[i]`` and
    ``dev_candidates`` those of the dev samples; give both to train with prior features.
    ``dev_samples`` None or empty: a seeded 10% of the training samples is held out instead.
    ``thresholds`` decode the dev set after every epoch (model selection).
    ``checkpoint_dir``: save the whole training state there after every epoch and resume from a
    checkpoint of the same fingerprint (see `dgcnn_ie.checkpoint`); the caller marks it complete
    (`checkpoint.mark_complete` with ``TrainResult.fingerprint``) once the model is saved.
    ``label`` starts every epoch line (e.g. "cv/prior fold 3, model 8/8"). ``on_epoch(progress)`` is
    called after every epoch with ``{"epochs_done", "epochs", "best_epoch", "best_dev_f1", "last_dev_f1"}``
    (the stages write it to their metrics file, so `dvc exp show` follows a running training).
    """
    if dev_samples and (kb_candidates is None) != (dev_candidates is None):
        raise ValueError("give both kb_candidates and dev_candidates (prior features) or neither")
    train_samples, heldout = list(train_samples), not dev_samples
    if heldout:
        keep, held = split_holdout(train_samples, seed)
        dev_samples = [train_samples[i] for i in held]
        if kb_candidates is not None:
            dev_candidates = [kb_candidates[i] for i in held]
            kb_candidates = [kb_candidates[i] for i in keep]
        train_samples = [train_samples[i] for i in keep]
        log(f"no dev set: holding out {len(dev_samples)} of {len(train_samples) + len(dev_samples)} "
            f"training samples (seed {seed}) for model selection")
    dev_samples = list(dev_samples)
    if not train_samples:
        raise ValueError("no training samples")
    unlabelled = [s.source for s in dev_samples if not s.labelled]
    if unlabelled:
        raise ValueError(f"{len(unlabelled)} dev samples have no labels (e.g. {unlabelled[0]})")

    device = device_name()
    backend.enable_determinism(device, log)
    set_seed(seed)
    with backend.DtypePolicy(cfg_train.precision):   # train.precision: the layers' compute dtype
        models = build_models(cfg_model, len(schema), encoder.word_vectors.dim, len(encoder.vocab))
    extractor = Extractor(models, encoder, schema, cfg_model, thresholds, uses_prior=kb_candidates is not None)
    specs = train_specs(encoder)
    base_lr, batch_size, epochs = cfg_train.lr, cfg_train.batch_size, cfg_train.epochs
    steps_per_epoch = math.ceil(len(train_samples) / batch_size)
    n_warmup = warmup_steps(len(train_samples), batch_size, cfg_train.warmup_epochs)
    weight = cfg_model.subject_loss_weight
    optimizer, ema, step = fresh_state(models, base_lr, cfg_train, specs, weight)
    log(f"{label}: training on {device}: {len(train_samples)} samples, {steps_per_epoch} steps/epoch, "
        f"{len(dev_samples)} dev samples, {models.train.count_params():,} parameters")

    out_dir = Path(out_dir)
    gold = [set(s.triples) for s in dev_samples]
    history: list[dict] = []
    best_f1, best_epoch, best_scores, best_weights = -1.0, 0, {}, None
    after_plateau, global_step, first_epoch, seconds_before = False, 0, 1, 0.0
    fingerprint = _fingerprint(train_samples, dev_samples, schema=schema, cfg_model=cfg_model, cfg_train=cfg_train,
                               encoder=encoder, seed=seed, thresholds=thresholds,
                               decode_batch_size=decode_batch_size, kb_candidates=kb_candidates,
                               dev_candidates=dev_candidates)
    if checkpoint_dir is not None:
        state, arrays = checkpoint.load(   # a damaged one is set aside (one log line) and training starts afresh
            checkpoint_dir, fingerprint, fields=_RESUME_FIELDS,
            shapes={"model": _shapes(models.train.variables), "optimizer": _shapes(optimizer.variables),
                    "ema": _shapes(ema.state_variables) if ema is not None else [],
                    "best": _shapes(models.train.weights)})      # saved after every epoch: never empty
        if state is None:
            if arrays != "no checkpoint":
                log(f"{label}: {arrays}")
        else:
            if state["after_plateau"]:     # a fresh optimiser and EMA of the same variables (same shapes)
                optimizer, ema, step = fresh_state(models, cfg_train.lr_after_plateau, cfg_train, specs, weight)
            _assign(models.train.variables, arrays["model"])
            _assign(optimizer.variables, arrays["optimizer"])
            if ema is not None:
                _assign(ema.state_variables, arrays["ema"])
            step.reload()                # the compiled step's own copy of the state (JAX) from the variables
            best_weights = arrays["best"]
            history, global_step, after_plateau = state["history"], state["global_step"], state["after_plateau"]
            best_f1, best_epoch, best_scores = state["best_f1"], state["best_epoch"], state["best_scores"]
            first_epoch, seconds_before = state["epoch"] + 1, state["seconds"]
            encoder.stats.clear()
            encoder.stats.update(state["encoder_stats"])      # what encoding counted so far (reported)
            encoder.clipped_texts = set(state["encoder_clipped"])   # so a clipped text is still counted once
            log(f"{label}: resuming from {checkpoint_dir} after epoch {state['epoch']}/{epochs}")
    started = time.perf_counter()
    for epoch in range(first_epoch, epochs + 1):
        with deferred_stop():           # a signal stops between steps, never inside TensorFlow
            t0 = time.perf_counter()
            batches = encoder.batches(train_samples, batch_size, shuffle=True, seed=seed, epoch=epoch,
                                      augment=cfg_train.augment,
                                      augment_rate=cfg_train.augment_rate,
                                      kb_candidates=kb_candidates)
            losses = []
            lr = base_lr
            for inputs, targets in progress(batches, total=steps_per_epoch, desc=f"epoch {epoch}"):
                lr = cfg_train.lr_after_plateau if after_plateau else warmup_lr(global_step, n_warmup, base_lr)
                losses.append(step(inputs, targets, lr))
                global_step += 1
                raise_if_stopped()
            step.sync()                  # JAX: the step's state into the variables (TensorFlow: already there)
            if ema is not None:
                ema.apply()
            try:
                pred = extractor.predict(dev_samples, batch_size=decode_batch_size,
                                         candidates=dev_candidates)
                scores = score(gold, pred, schema.format)
                if scores["f1"] >= best_f1:  # ties: the later, longer trained weights
                    best_f1, best_epoch = scores["f1"], epoch
                    best_scores = {k: scores[k] for k in ("precision", "recall", "f1")}
                    best_weights = models.train.get_weights()
            finally:
                if ema is not None:
                    ema.restore()
            row = {"epoch": epoch, "loss": float(np.mean(losses)), "dev_precision": scores["precision"],
                   "dev_recall": scores["recall"], "dev_f1": scores["f1"], "lr": lr,
                   "seconds": time.perf_counter() - t0, "reloaded": False}
            history.append(row)
            done_here = epoch - first_epoch + 1
            eta = (time.perf_counter() - started) / done_here * (epochs - epoch)
            log(f"{label}: epoch {epoch}/{epochs}: loss {row['loss']:.4f}, dev P {row['dev_precision']:.4f} "
                f"R {row['dev_recall']:.4f} F1 {row['dev_f1']:.4f} (best {best_f1:.4f} @ {best_epoch}), "
                f"{row['seconds']:.1f}s, ETA {_eta(eta)}")
            if reload_due([h["dev_f1"] for h in history], epochs=epochs, cfg=cfg_train, after_plateau=after_plateau):
                models.train.set_weights(best_weights)
                optimizer, ema, step = fresh_state(models, cfg_train.lr_after_plateau, cfg_train, specs, weight)
                why = "forced" if epoch == cfg_train.plateau_force_epoch else "plateau"
                after_plateau, row["reloaded"] = True, True
                log(f"{label}: {why} after epoch {epoch}: reloaded the weights of epoch {best_epoch}, "
                    f"lr {cfg_train.lr_after_plateau}")
            _write_history(out_dir, history)
            if on_epoch is not None:
                on_epoch({"epochs_done": epoch, "epochs": epochs, "best_epoch": best_epoch, "best_dev_f1": best_f1,
                          "last_dev_f1": row["dev_f1"]})
            if checkpoint_dir is not None:
                checkpoint.save(checkpoint_dir, fingerprint,
                                {"epoch": epoch, "epochs": epochs, "global_step": global_step,
                                 "after_plateau": after_plateau, "best_f1": best_f1, "best_epoch": best_epoch,
                                 "best_scores": best_scores, "history": history,
                                 "encoder_stats": dict(encoder.stats),
                                 "encoder_clipped": sorted(encoder.clipped_texts),
                                 "seconds": seconds_before + time.perf_counter() - started},
                                {"model": [v.numpy() for v in models.train.variables],
                                 "optimizer": [v.numpy() for v in optimizer.variables],
                                 "ema": [v.numpy() for v in ema.state_variables] if ema is not None else [],
                                 "best": list(best_weights) if best_weights is not None else []})
    if best_weights is not None:
        models.train.set_weights(best_weights)
    return TrainResult(models=models, history=history, best_epoch=best_epoch, best=best_scores,
                       seconds=seconds_before + time.perf_counter() - started, device=device,
                       dev_samples=dev_samples, heldout=heldout, fingerprint=fingerprint)
