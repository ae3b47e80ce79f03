"""The training loop (method.md §4).

A compiled step (masked BCE, Adam, bias-corrected EMA update; a ``tf.function`` under TensorFlow, a jitted
pure function under JAX: `dgcnn_ie.backend.TrainStep`) runs over ``batches.TrainingBatches``; the learning rate rises linearly over the first
``warmup_epochs`` epochs (per step). After every epoch the dev set is decoded
with the EMA weights applied and scored; the best EMA weights are kept (on a tie, the later epoch's;
kg-2019 keeps the earlier one). When :func:`plateau_reached` says so, the best weights are reloaded and
training goes on at ``lr_after_plateau`` with a fresh optimiser (as kg-2019) and a fresh bias-corrected EMA
(kg-2019's average is not restarted: its reset is overwritten at the next step, docs/deviations.md T2): once
on a plateau, and at ``plateau_force_epoch`` whether or not a plateau came first (kg-2019 reloads at epoch
50 in either case). Without a dev set, a seeded 10% of the training samples is
held out for model selection (:func:`split_holdout`).

How it reads: `selection_split` picks the samples to train and to select on; `TrainState` is what carries
over epochs, what a checkpoint saves (`TrainState.to_checkpoint`) and a resume restores
(`TrainState.from_checkpoint`); `_Trainer` holds the model, optimiser, EMA and step, and its methods are the
parts of kg-2019's ``fit`` with its ``Evaluate`` callback (`_Trainer.train_epoch`, `_Trainer.evaluate` with the
EMA swap and the selection, `_Trainer.reload_if_due`, `_Trainer.save`, `_Trainer.run`: the epoch loop).

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
from .data import Sample, Schema
from .decode import Thresholds
from .batches import BATCH_ORDER, TrainingBatches
from .ema import BiasCorrectedEMA
from .extractor import Extractor, input_specs, progress
from .features import Encoder, WordVectors
from .files import atomic_write
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
    encoder_stats: dict = field(default_factory=dict)   # what encoding counted (`TrainingBatches.counts`)


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


def reload_due(f1s: Sequence[float], *, epochs: int, train_config: TrainConfig, after_plateau: bool) -> bool:
    """Whether the training reloads its best weights and drops the lr after the epoch that gave the last
    of ``f1s`` (never after the last epoch: nothing would train at the lower lr)."""
    return len(f1s) < epochs and plateau_reached(
        f1s, min_epoch=train_config.plateau_min_epoch, patience=train_config.plateau_patience,
        min_f1=train_config.plateau_min_f1, force_epoch=train_config.plateau_force_epoch, after_plateau=after_plateau)


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
    """``(inputs, targets)`` TensorSpecs of `TrainingBatches.batches` (batch and length dims free) under
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


def fresh_state(models: Models, lr: float, train_config: TrainConfig, specs, subject_weight: float = 1.0,
                *, jit_compile: bool = False):
    """A new Adam optimiser, EMA (``train.ema``, ``train.ema_decay``) and compiled :func:`make_step`."""
    optimizer = backend.make_optimizer(lr, train_config.precision)
    optimizer.build(models.train.trainable_variables)
    ema = (BiasCorrectedEMA(models.train.trainable_variables, train_config.ema_decay)
           if train_config.ema else None)
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


def _fingerprint(train_samples, dev_samples, *, schema: Schema, model_config: ModelConfig,
                 train_config: TrainConfig, encoder: Encoder, seed: int, thresholds: Thresholds,
                 decode_batch_size: int, kb_candidates, dev_candidates) -> str:
    """Everything a training's result depends on, hashed: a checkpoint of another fingerprint is not resumed."""
    words = encoder.word_vectors
    word_id = words.digest if isinstance(words, WordVectors) else f"none:{words.dim}"

    def samples_id(samples):
        return checkpoint.digest([(s.text, sorted(s.triples)) for s in samples])

    return checkpoint.digest(
        {"model_config": as_dict(model_config), "train_config": as_dict(train_config), "seed": seed,
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


@dataclass
class Split:
    """The samples one training fits (``train``) and selects its epoch on (``dev``), and their prior candidates
    (None: no prior features)."""

    train: list[Sample]
    dev: list[Sample]
    kb_candidates: Sequence[list] | None
    dev_candidates: Sequence[list] | None
    heldout: bool                        # ``dev`` is a seeded part of the given training samples


def selection_split(train_samples: Sequence[Sample], dev_samples: Sequence[Sample] | None,
                    kb_candidates: Sequence[list] | None, dev_candidates: Sequence[list] | None, *, seed: int,
                    log: Callable[[str], None] = default_log) -> Split:
    """What to train on and what to select on, checked: the dev set, or without one (None or empty) a seeded
    `HOLDOUT_FRACTION` of the training samples (`split_holdout`), their candidates split alike. kg-2019
    always has a dev set; the hold-out lets a run without one still choose its epoch. Raises ValueError for
    candidates given for one side only, no training samples, or dev samples without labels."""
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
    return Split(train_samples, dev_samples, kb_candidates, dev_candidates, heldout)


@dataclass
class TrainState:
    """What the loop carries from one epoch to the next: all a checkpoint's ``state.json`` (and its ``best``
    arrays) saves and a resume restores, so that a resumed training goes on exactly as an uninterrupted one.

    kg-2019's ``Evaluate`` callback keeps the same things: ``F1`` (here the history's ``dev_f1``), ``best``
    (``best_f1``; the weights in ``best_model.weights``, here ``best_weights``), ``passed`` (``global_step``;
    kg-2019 stops counting after the warm-up) and ``stage`` (``after_plateau``). Added for resuming and
    reporting: the epochs done, the whole history row, the best epoch and its scores, the seconds trained.
    """

    epoch: int = 0                       # epochs done (a resume starts at the next)
    global_step: int = 0                 # optimisation steps done: the warm-up's clock
    history: list[dict] = field(default_factory=list)     # a `HISTORY_FIELDS` row per epoch
    best_epoch: int = 0                  # 1-based; 0 before the first epoch
    best_f1: float = -1.0                # below any F1: epoch 1 is always kept (docs/deviations.md T3)
    best_scores: dict = field(default_factory=dict)       # dev precision / recall / f1 of the best epoch
    best_weights: list | None = field(default=None, repr=False)
    after_plateau: bool = False          # the best weights were reloaded once: lr_after_plateau from then on
    seconds: float = 0.0                 # seconds trained before this process (by those a resume follows)
    started: float = field(default_factory=time.perf_counter, repr=False, compare=False)   # this process's start

    def f1s(self) -> list[float]:
        """The dev F1 of every epoch so far (kg-2019's ``self.F1``): what the reload rule reads."""
        return [row["dev_f1"] for row in self.history]

    def elapsed(self) -> float:
        """Seconds trained, over every process of a resumed training."""
        return self.seconds + time.perf_counter() - self.started

    def progress(self, epochs: int) -> dict:
        """``on_epoch``'s argument after an epoch (the stages write it to their metrics file)."""
        return {"epochs_done": self.epoch, "epochs": epochs, "best_epoch": self.best_epoch,
                "best_dev_f1": self.best_f1, "last_dev_f1": self.history[-1]["dev_f1"]}

    def to_checkpoint(self, epochs: int, training: TrainingBatches) -> tuple[dict, list]:
        """``(state.json fields, best weights)`` for `checkpoint.save`. The encoder's counters travel with the
        state: what encoding counted so far is reported, and a clipped text is counted once per training."""
        return ({"epoch": self.epoch, "epochs": epochs, "global_step": self.global_step,
                 "after_plateau": self.after_plateau, "best_f1": self.best_f1, "best_epoch": self.best_epoch,
                 "best_scores": self.best_scores, "history": self.history, "encoder_stats": training.counts(),
                 "encoder_clipped": sorted(training.encoder.clipped_texts), "seconds": self.elapsed()},
                list(self.best_weights) if self.best_weights is not None else [])

    @classmethod
    def from_checkpoint(cls, saved: dict, best: list, training: TrainingBatches) -> TrainState:
        """The state `to_checkpoint` saved (``saved`` checked by `_RESUME_FIELDS`), the encoder's counters
        restored into ``training`` (and its encoder)."""
        training.restore(saved["encoder_stats"], saved["encoder_clipped"])
        return cls(epoch=saved["epoch"], global_step=saved["global_step"], history=saved["history"],
                   best_epoch=saved["best_epoch"], best_f1=saved["best_f1"], best_scores=saved["best_scores"],
                   best_weights=best, after_plateau=saved["after_plateau"], seconds=saved["seconds"])


def step_lr(global_step: int, *, after_plateau: bool, n_warmup: int, train_config: TrainConfig) -> float:
    """The learning rate of a step (kg-2019's ``on_batch_begin`` and its reload's ``set_value``): the linear
    warm-up to ``train.lr``, and ``train.lr_after_plateau`` once the best weights were reloaded."""
    return train_config.lr_after_plateau if after_plateau else warmup_lr(global_step, n_warmup, train_config.lr)


def history_row(epoch: int, loss: float, scores: dict, lr: float, seconds: float) -> dict:
    """An epoch's `HISTORY_FIELDS` row; ``reloaded`` is set once the reload rule has been asked."""
    return {"epoch": epoch, "loss": loss, "dev_precision": scores["precision"], "dev_recall": scores["recall"],
            "dev_f1": scores["f1"], "lr": lr, "seconds": seconds, "reloaded": False}


def epoch_line(label: str, row: dict, state: TrainState, epochs: int, eta_seconds: float) -> str:
    """The log line of an epoch (kg-2019 prints f1, precision, recall and the best f1)."""
    return (f"{label}: epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, dev P {row['dev_precision']:.4f} "
            f"R {row['dev_recall']:.4f} F1 {row['dev_f1']:.4f} (best {state.best_f1:.4f} @ {state.best_epoch}), "
            f"{row['seconds']:.1f}s, ETA {_eta(eta_seconds)}")


class _Trainer:
    """One model's training, laid out as kg-2019's ``fit`` with its ``Evaluate`` callback: `run` is the epoch
    loop, `train_epoch` one pass, `evaluate` and `reload_if_due` the callback's ``on_epoch_end``. It holds the
    model, the optimiser, the EMA and the compiled step (all but the model replaced at a reload); what
    carries over epochs, into a checkpoint and out of the training is a `TrainState`."""

    def __init__(self, split: Split, *, schema: Schema, model_config: ModelConfig, train_config: TrainConfig,
                 encoder: Encoder, seed: int, thresholds: Thresholds, decode_batch_size: int, label: str,
                 log: Callable[[str], None]):
        """Build the model (seeded) and a fresh optimiser, EMA and step; determinism before any of it."""
        self.split, self.schema, self.encoder, self.seed = split, schema, encoder, seed
        self.train_config = train_config
        self.training = TrainingBatches(encoder)
        self.decode_batch_size, self.label, self.log = decode_batch_size, label, log
        self.device = device_name()
        backend.enable_determinism(self.device, log)
        set_seed(seed)
        with backend.DtypePolicy(train_config.precision):   # train.precision: the layers' compute dtype
            self.models = build_models(model_config, len(schema), encoder.word_vectors.dim, len(encoder.vocab))
        self.extractor = Extractor(self.models, encoder, schema, model_config, thresholds,
                                   uses_prior=split.kb_candidates is not None)
        self.specs, self.subject_weight = train_specs(encoder), model_config.subject_loss_weight
        self.steps_per_epoch = math.ceil(len(split.train) / train_config.batch_size)
        self.n_warmup = warmup_steps(len(split.train), train_config.batch_size, train_config.warmup_epochs)
        self.restart(train_config.lr)
        log(f"{label}: training on {self.device}: {len(split.train)} samples, {self.steps_per_epoch} steps/epoch, "
            f"{len(split.dev)} dev samples, {self.models.train.count_params():,} parameters")
        self.gold = [set(s.triples) for s in split.dev]

    def restart(self, lr: float) -> None:
        """A fresh Adam, EMA and step (`fresh_state`): at the start, and at a reload (kg-2019 zeroes Adam's
        slots there; its EMA is not restarted, docs/deviations.md T2)."""
        self.optimizer, self.ema, self.step = fresh_state(self.models, lr, self.train_config, self.specs,
                                                          self.subject_weight)

    def variables(self) -> dict[str, list]:
        """The live variables a checkpoint saves, by ``arrays.npz`` group in file order (``best`` follows)."""
        return {"model": self.models.train.variables, "optimizer": self.optimizer.variables,
                "ema": self.ema.state_variables if self.ema is not None else []}

    def resume(self, checkpoint_dir, fingerprint: str) -> TrainState:
        """The state of the checkpoint at ``checkpoint_dir`` made with ``fingerprint``, its arrays assigned
        (after a plateau into a fresh optimiser and EMA of the same shapes); else a fresh `TrainState`. A
        damaged checkpoint is set aside by `checkpoint.load` (one log line). kg-2019 cannot resume."""
        if checkpoint_dir is None:
            return TrainState()
        shapes = {group: _shapes(variables) for group, variables in self.variables().items()}
        saved, arrays = checkpoint.load(checkpoint_dir, fingerprint, fields=_RESUME_FIELDS,
                                        shapes={**shapes, "best": _shapes(self.models.train.weights)})
        if saved is None:
            if arrays != "no checkpoint":
                self.log(f"{self.label}: {arrays}")
            return TrainState()
        if saved["after_plateau"]:
            self.restart(self.train_config.lr_after_plateau)
        for group, variables in self.variables().items():
            _assign(variables, arrays[group])
        self.step.reload()               # the compiled step's own copy of the state (JAX) from the variables
        state = TrainState.from_checkpoint(saved, arrays["best"], self.training)
        self.log(f"{self.label}: resuming from {checkpoint_dir} after epoch "
                 f"{saved['epoch']}/{self.train_config.epochs}")
        return state

    def train_epoch(self, state: TrainState, epoch: int) -> tuple[float, float]:
        """One pass over the shuffled, augmented batches of the 1-based ``epoch``: ``(mean loss, last lr)``.
        Ends with the step's state in the variables (`backend.TrainStep.sync`)."""
        train_config = self.train_config
        batches = self.training.batches(self.split.train, train_config.batch_size, shuffle=True, seed=self.seed,
                                        epoch=epoch, augment=train_config.augment,
                                        augment_rate=train_config.augment_rate, kb_candidates=self.split.kb_candidates)
        losses, lr = [], train_config.lr
        for inputs, targets in progress(batches, total=self.steps_per_epoch, desc=f"epoch {epoch}"):
            lr = step_lr(state.global_step, after_plateau=state.after_plateau, n_warmup=self.n_warmup,
                         train_config=train_config)
            losses.append(self.step(inputs, targets, lr))
            state.global_step += 1
            raise_if_stopped()
        self.step.sync()                 # JAX: the step's state into the variables (TensorFlow: already there)
        return float(np.mean(losses)), lr

    def evaluate(self, state: TrainState, epoch: int) -> dict:
        """Decode the dev set with the EMA weights swapped in (kg-2019's ``apply_ema_weights`` /
        ``reset_old_weights``), score it, and keep those weights in ``state`` if the F1 is the best so far;
        on a tie the later epoch's (kg-2019 keeps the earlier: docs/deviations.md T3). The scores."""
        if self.ema is not None:
            self.ema.apply()
        try:
            pred = self.extractor.predict(self.split.dev, batch_size=self.decode_batch_size,
                                          candidates=self.split.dev_candidates)
            scores = score(self.gold, pred, self.schema.format)
            if scores["f1"] >= state.best_f1:
                state.best_f1, state.best_epoch = scores["f1"], epoch
                state.best_scores = {k: scores[k] for k in ("precision", "recall", "f1")}
                state.best_weights = self.models.train.get_weights()
        finally:
            if self.ema is not None:
                self.ema.restore()
        return scores

    def reload_if_due(self, state: TrainState) -> bool:
        """kg-2019's switch to its second stage, when `reload_due` says so after the epoch just recorded:
        the best weights reloaded, a fresh optimiser and EMA (`restart`), ``lr_after_plateau`` from then on."""
        if not reload_due(state.f1s(), epochs=self.train_config.epochs, train_config=self.train_config,
                          after_plateau=state.after_plateau):
            return False
        self.models.train.set_weights(state.best_weights)
        self.restart(self.train_config.lr_after_plateau)
        why = "forced" if state.epoch == self.train_config.plateau_force_epoch else "plateau"
        state.after_plateau = True
        self.log(f"{self.label}: {why} after epoch {state.epoch}: reloaded the weights of epoch {state.best_epoch}, "
                 f"lr {self.train_config.lr_after_plateau}")
        return True

    def save(self, state: TrainState, checkpoint_dir, fingerprint: str) -> None:
        """Checkpoint the whole training after an epoch: the state, every live variable and the best weights."""
        saved, best = state.to_checkpoint(self.train_config.epochs, self.training)
        arrays = {group: [v.numpy() for v in variables] for group, variables in self.variables().items()}
        checkpoint.save(checkpoint_dir, fingerprint, saved, {**arrays, "best": best})

    def run(self, state: TrainState, *, out_dir: Path, checkpoint_dir, fingerprint: str,
            on_epoch: Callable[[dict], None] | None) -> None:
        """The epochs after ``state.epoch``, each followed by the history files, ``on_epoch`` and a checkpoint
        (with ``checkpoint_dir``). A signal stops between steps (`utils.deferred_stop`)."""
        first, epochs = state.epoch + 1, self.train_config.epochs
        for epoch in range(first, epochs + 1):
            with deferred_stop():       # a signal stops between steps, never inside TensorFlow
                t0 = time.perf_counter()
                loss, lr = self.train_epoch(state, epoch)
                scores = self.evaluate(state, epoch)
                row = history_row(epoch, loss, scores, lr, time.perf_counter() - t0)
                state.history.append(row)
                state.epoch = epoch
                eta = (time.perf_counter() - state.started) / (epoch - first + 1) * (epochs - epoch)
                self.log(epoch_line(self.label, row, state, epochs, eta))
                row["reloaded"] = self.reload_if_due(state)
                _write_history(out_dir, state.history)
                if on_epoch is not None:
                    on_epoch(state.progress(epochs))
                if checkpoint_dir is not None:
                    self.save(state, checkpoint_dir, fingerprint)


def train_model(train_samples: Sequence[Sample], dev_samples: Sequence[Sample] | None, *, schema: Schema,
                model_config: ModelConfig, train_config: TrainConfig, encoder: Encoder, seed: int, out_dir,
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
    checkpoint of the same fingerprint (see `dgcnn_ie.checkpoint`); the caller removes it
    (`checkpoint.discard`) once the model is saved.
    ``label`` starts every epoch line (e.g. "cv/prior fold 3, model 8/8"). ``on_epoch(progress)`` is
    called after every epoch with ``{"epochs_done", "epochs", "best_epoch", "best_dev_f1", "last_dev_f1"}``
    (the stages write it to their metrics file, so `dvc exp show` follows a running training).
    """
    split = selection_split(train_samples, dev_samples, kb_candidates, dev_candidates, seed=seed, log=log)
    trainer = _Trainer(split, schema=schema, model_config=model_config, train_config=train_config, encoder=encoder,
                       seed=seed, thresholds=thresholds, decode_batch_size=decode_batch_size, label=label, log=log)
    fingerprint = _fingerprint(split.train, split.dev, schema=schema, model_config=model_config,
                               train_config=train_config, encoder=encoder, seed=seed, thresholds=thresholds,
                               decode_batch_size=decode_batch_size, kb_candidates=split.kb_candidates,
                               dev_candidates=split.dev_candidates)
    state = trainer.resume(checkpoint_dir, fingerprint)   # a fresh state without a checkpoint to resume
    trainer.run(state, out_dir=Path(out_dir), checkpoint_dir=checkpoint_dir, fingerprint=fingerprint,
                on_epoch=on_epoch)
    if state.best_weights is not None:
        trainer.models.train.set_weights(state.best_weights)
    return TrainResult(models=trainer.models, history=state.history, best_epoch=state.best_epoch,
                       best=state.best_scores, seconds=state.elapsed(), device=trainer.device,
                       dev_samples=split.dev, heldout=split.heldout, fingerprint=fingerprint,
                       encoder_stats=trainer.training.counts())
