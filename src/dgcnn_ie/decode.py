"""Decoding of start/end probabilities into spans and triples (method §5).

A *probability model* is anything with

- ``subject_probs(inputs) -> (start[B, L], end[B, L])`` and
- ``object_probs(inputs, rows int[N], spans int[N, 2]) -> (start[N, L, C], end[N, L, C])``

where ``inputs`` is opaque here: :func:`extract` only hands it back to the model
(the :class:`~dgcnn_ie.extractor.Extractor` uses a batch of texts). Row ``n`` of
an object pass conditions sentence ``rows[n]`` on the subject ``spans[n]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from .data import Schema, Triple

Span = tuple[int, int]


@dataclass(frozen=True)
class Thresholds:
    """Start/end probability thresholds shared by subjects and objects."""

    start: float = 0.5
    end: float = 0.4

    @classmethod
    def from_config(cls, section) -> "Thresholds":
        """The pair of a config section with ``start_threshold`` / ``end_threshold`` (``decode``,
        ``train.selection_thresholds``: the thresholds that pick the best epoch)."""
        return cls(float(section.start_threshold), float(section.end_threshold))


class ProbabilityModel(Protocol):
    def subject_probs(self, inputs) -> tuple[np.ndarray, np.ndarray]: ...

    def object_probs(self, inputs, rows: np.ndarray, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def decode_spans(start_p, end_p, start_thr: float = 0.5, end_thr: float = 0.4) -> list[Span]:
    """Spans ``(start, end)`` (end inclusive): every position with ``start_p >= start_thr``
    takes the nearest position at or after it with ``end_p >= end_thr``; starts
    without such an end are dropped."""
    return pair_nearest(np.flatnonzero(np.asarray(start_p) >= start_thr),
                        np.flatnonzero(np.asarray(end_p) >= end_thr))


def pair_nearest(starts: np.ndarray, ends: np.ndarray) -> list[Span]:
    """Each of the ascending ``starts`` with the nearest of the ascending ``ends`` at or after it
    (the pairing of :func:`decode_spans`, on positions already above their thresholds)."""
    if not len(starts) or not len(ends):
        return []
    nearest = np.searchsorted(ends, starts, side="left")
    return [(int(s), int(ends[j])) for s, j in zip(starts, nearest) if j < len(ends)]


def extract(prob_model: ProbabilityModel, inputs, texts: Sequence[str], schema: Schema,
            thr: Thresholds = Thresholds(), object_batch_size: int = 256) -> list[set[Triple]]:
    """Triples for a batch: one subject pass, then ONE object pass (in chunks of at
    most ``object_batch_size`` rows) over every decoded subject of every sentence.

    Only the first ``min(len(text), L)`` characters of a text are decoded, ``L``
    being the probability arrays' length (texts clipped to the model's max length).
    """
    s_start, s_end = prob_model.subject_probs(inputs)
    if len(s_start) != len(texts):
        raise ValueError(f"subject_probs returned {len(s_start)} rows for {len(texts)} texts")
    length = s_start.shape[1]
    clipped = [t[:length] for t in texts]
    rows, spans = [], []
    for i, text in enumerate(clipped):
        for span in decode_spans(s_start[i, :len(text)], s_end[i, :len(text)], thr.start, thr.end):
            rows.append(i)
            spans.append(span)
    results: list[set[Triple]] = [set() for _ in texts]
    if not rows:
        return results
    rows_a = np.asarray(rows, dtype=np.int32)
    spans_a = np.asarray(spans, dtype=np.int32).reshape(-1, 2)
    predicates = schema.predicates
    for lo in range(0, len(rows_a), object_batch_size):
        chunk_rows, chunk_spans = rows_a[lo:lo + object_batch_size], spans_a[lo:lo + object_batch_size]
        o_start, o_end = prob_model.object_probs(inputs, chunk_rows, chunk_spans)
        for n, (row, (ss, se)) in enumerate(zip(chunk_rows, chunk_spans)):
            text = clipped[row]
            subject = text[ss:se + 1]
            starts, ends = o_start[n, :len(text)], o_end[n, :len(text)]
            for c in np.flatnonzero((starts >= thr.start).any(axis=0)):
                for os_, oe in decode_spans(starts[:, c], ends[:, c], thr.start, thr.end):
                    results[row].add(Triple(subject, predicates[c], text[os_:oe + 1]))
    return results


class AveragedModel:
    """Family ensemble: the mean of the members' subject probabilities, and of
    their object probabilities for the given subjects. Members whose max length
    differs are cropped to the shortest length."""

    def __init__(self, models: Sequence[ProbabilityModel]):
        if not models:
            raise ValueError("AveragedModel needs at least one model")
        self.models = list(models)
        lengths = [m.max_len for m in self.models if getattr(m, "max_len", None)]
        self.max_len = min(lengths) if lengths else None     # longer texts are windowed (extractor.predict_samples)

    @staticmethod
    def _mean(outputs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        length = min(start.shape[1] for start, _ in outputs)
        start = np.mean([s[:, :length] for s, _ in outputs], axis=0)
        end = np.mean([e[:, :length] for _, e in outputs], axis=0)
        return start, end

    def subject_probs(self, inputs):
        return self._mean([m.subject_probs(inputs) for m in self.models])

    def object_probs(self, inputs, rows, spans):
        return self._mean([m.object_probs(inputs, rows, spans) for m in self.models])
