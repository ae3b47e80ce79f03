"""Decode-threshold tuning (method §5): sweep (start, end) thresholds over one set of probabilities.

For every batch the subject probabilities are computed once; the object
probabilities depend on the decoded subjects, so they are computed once per
distinct (row, subject span) that any grid point decodes, and kept (sparsely:
only the values at or above the grid's smallest thresholds) while that batch is
decoded at every grid point. The result at a grid point is exactly what
``decode.extract`` gives with those thresholds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from . import layout
from .data import Sample, Schema, Triple
from .decode import ProbabilityModel, decode_spans, pair_nearest
from .ensemble import union
from .metrics import score
from .utils import log

Point = tuple[float, float]
SWEEP_KEYS = ("start_threshold", "end_threshold", "precision", "recall", "f1", "tp", "n_pred", "n_gold")


def make_grid(starts: Sequence[float], ends: Sequence[float]) -> list[Point]:
    """Every (start, end) pair, sorted, duplicates removed; thresholds must lie in (0, 1]."""
    grid = sorted({(float(s), float(e)) for s in starts for e in ends})
    if not grid:
        raise ValueError("the threshold grid is empty: give at least one start and one end threshold")
    bad = [t for point in grid for t in point if not 0.0 < t <= 1.0]
    if bad:
        raise ValueError(f"thresholds must be in (0, 1], got {bad[0]}")
    return grid


class _ObjectCandidates:
    """Object start/end positions and probabilities of one (row, subject), per predicate, at or above
    the smallest start / end threshold of the grid."""

    def __init__(self, o_start: np.ndarray, o_end: np.ndarray, min_start: float, min_end: float):
        s_pos, s_c = np.nonzero(o_start >= min_start)
        e_pos, e_c = np.nonzero(o_end >= min_end)
        s_p, e_p = o_start[s_pos, s_c], o_end[e_pos, e_c]
        self.by_predicate = {}
        for c in np.unique(s_c):
            keep_s, keep_e = s_c == c, e_c == c
            self.by_predicate[int(c)] = (s_pos[keep_s], s_p[keep_s], e_pos[keep_e], e_p[keep_e])

    def spans(self, start_thr: float, end_thr: float):
        """(predicate index, object span) pairs decoded at these thresholds."""
        for c, (s_pos, s_p, e_pos, e_p) in self.by_predicate.items():
            starts = s_pos[s_p >= start_thr]
            if len(starts):
                for span in pair_nearest(starts, e_pos[e_p >= end_thr]):
                    yield c, span


def sweep_predictions(prob_model: ProbabilityModel, inputs_batches: Iterable[tuple[object, Sequence[str]]],
                      schema: Schema, grid: Sequence[Point], object_batch_size: int = 256) -> list[list[set[Triple]]]:
    """``predictions[g][i]``: the triples of text ``i`` (batches concatenated in order) at grid point ``g``.

    ``inputs_batches`` yields ``(inputs, texts)``: what the model's probability methods take, and the texts.
    """
    if not grid:
        raise ValueError("the threshold grid is empty")
    min_start, min_end = min(s for s, _ in grid), min(e for _, e in grid)
    predicates = schema.predicates
    predictions: list[list[set[Triple]]] = [[] for _ in grid]
    for inputs, texts in inputs_batches:
        s_start, s_end = prob_model.subject_probs(inputs)
        if len(s_start) != len(texts):
            raise ValueError(f"subject_probs returned {len(s_start)} rows for {len(texts)} texts")
        clipped = [t[:s_start.shape[1]] for t in texts]
        subjects = [[decode_spans(s_start[i, :len(t)], s_end[i, :len(t)], st, et) for i, t in enumerate(clipped)]
                    for st, et in grid]
        keys = sorted({(i, span) for per_point in subjects for i, spans in enumerate(per_point) for span in spans})
        objects: dict[tuple[int, tuple[int, int]], _ObjectCandidates] = {}
        for lo in range(0, len(keys), object_batch_size):
            chunk = keys[lo:lo + object_batch_size]
            rows = np.asarray([i for i, _ in chunk], dtype=np.int32)
            spans = np.asarray([span for _, span in chunk], dtype=np.int32).reshape(-1, 2)
            o_start, o_end = prob_model.object_probs(inputs, rows, spans)
            for n, (i, span) in enumerate(chunk):
                n_chars = len(clipped[i])
                objects[(i, span)] = _ObjectCandidates(o_start[n, :n_chars], o_end[n, :n_chars], min_start, min_end)
        for g, (st, et) in enumerate(grid):
            for i, text in enumerate(clipped):
                triples = set()
                for ss, se in subjects[g][i]:
                    subject = text[ss:se + 1]
                    for c, (os_, oe) in objects[(i, (ss, se))].spans(st, et):
                        triples.add(Triple(subject, predicates[c], text[os_:oe + 1]))
                predictions[g].append(triples)
    return predictions


def score_sweep(gold: Sequence[set[Triple]], predictions: Sequence[Sequence[set[Triple]]],
                grid: Sequence[Point], fmt: str) -> list[dict]:
    """One row per grid point: the thresholds and the micro scores of its predictions."""
    if len(predictions) != len(grid):
        raise ValueError(f"{len(predictions)} prediction lists for {len(grid)} grid points")
    rows = []
    for (st, et), pred in zip(grid, predictions):
        scores = score(list(gold), list(pred), fmt)
        rows.append({"start_threshold": st, "end_threshold": et, **{k: scores[k] for k in SWEEP_KEYS[2:]}})
    return rows


def threshold_sweep(prob_model: ProbabilityModel, inputs_batches: Iterable[tuple[object, Sequence[str]]],
                    gold: Sequence[set[Triple]], schema: Schema, grid: Sequence[Point],
                    object_batch_size: int = 256) -> list[dict]:
    """``[{start_threshold, end_threshold, precision, recall, f1, tp, n_pred, n_gold}]`` per grid point;
    ``gold[i]`` belongs to text ``i`` of the concatenated batches."""
    predictions = sweep_predictions(prob_model, inputs_batches, schema, grid, object_batch_size)
    if predictions and len(predictions[0]) != len(gold):
        raise ValueError(f"{len(gold)} gold sets for {len(predictions[0])} texts")
    return score_sweep(gold, predictions, grid, schema.format)


def best_thresholds(sweep: Sequence[dict]) -> dict:
    """The row with the highest F1 (ties: higher precision, then the earlier row)."""
    if not sweep:
        raise ValueError("empty threshold sweep")
    return max(sweep, key=lambda r: (r["f1"], r["precision"]))


# ------------------------------------------------------------------------ out-of-fold sweep of cv models
@dataclass(frozen=True)
class Member:
    """A cv model of each fold whose predictions an out-of-fold sweep unites: ``family`` None is cv_raw."""

    family: str | None
    uses_prior: bool

    def run(self, fold: int) -> layout.CVRun:
        return layout.CVRun(self.family, fold)


def describe_members(members: Sequence[Member]) -> str:
    """``cv_raw`` / ``cv/<family>`` names of the members, joined by " + "."""
    return " + ".join(m.run(0).name for m in members)


def oof_sweep(samples: Sequence[Sample], assignment: Sequence[int], folds: Sequence[int], schema: Schema,
              grid: Sequence[Point], batch_size: int, load_model: Callable, make_inputs: Callable,
              members: Sequence[Member] = (Member(None, False),),
              candidates: Callable[[int], list] | None = None) -> tuple[list[dict], int]:
    """The threshold sweep of each fold's models (``members``, their predictions united per sentence) on
    that fold's held-out sentences, pooled over folds and scored against the labels of ``samples``; returns
    the sweep and the number of sentences. ``candidates(fold)`` gives the prior candidates of every sample
    for that fold's KB (needed by a member with prior features); ``make_inputs(texts[, candidates])``."""
    gold, predictions = [], [[] for _ in grid]
    for fold in folds:
        held = sorted((i for i, a in enumerate(assignment) if a == fold), key=lambda i: len(samples[i].text))
        if not held:
            continue
        texts = [samples[i].text for i in held]
        swept = []
        for member in members:
            model = load_model(member.run(fold).model_dir)
            cands = None
            if member.uses_prior:
                if candidates is None:
                    raise ValueError("a member with prior features needs the prior candidates")
                every = candidates(fold)
                cands = [every[i] for i in held]
            batches = ((make_inputs(texts[i:i + batch_size]) if cands is None
                        else make_inputs(texts[i:i + batch_size], cands[i:i + batch_size]), texts[i:i + batch_size])
                       for i in range(0, len(texts), batch_size))
            swept.append(sweep_predictions(model, batches, schema, grid))
        for g, per_member in enumerate(zip(*swept, strict=True)):
            predictions[g] += union(per_member)
        gold += [set(samples[i].triples) for i in held]
        log(f"threshold sweep of fold {fold} ({describe_members(members)}) "
            f"on {len(held)} held-out sentences")
    return score_sweep(gold, predictions, grid, schema.format), len(gold)
