"""Micro P/R/F1 over exact triple matches (the competition metric), with a per-predicate breakdown."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from .data import FORMATS, assemble_duie
from .files import atomic_write


def _items(triples, fmt: str) -> set[tuple]:
    """Scoring units: flat triples for LIC2019; whole complex spo (value and every slot) for DuIE 2.0."""
    if fmt == "lic2019":
        return {(t.subject, t.predicate, t.object) for t in triples}
    return {(spo["subject"], spo["predicate"], frozenset(spo["object"].items())) for spo in assemble_duie(triples)}


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """(precision, recall, F1) from true positives, predicted and gold counts; 0 where undefined."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(gold: list[set], pred: list[set], fmt: str) -> dict:
    """Micro scores over all sentences; a sentence's duplicates count once (sets)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {FORMATS}")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sets but {len(pred)} prediction sets")
    tp, n_pred, n_gold = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred, strict=True):
        g, p = _items(g, fmt), _items(p, fmt)
        for item in g:
            n_gold[item[1]] += 1
        for item in p:
            n_pred[item[1]] += 1
        for item in g & p:
            tp[item[1]] += 1
    precision, recall, f1 = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    per_predicate = {}
    for name in sorted(set(n_gold) | set(n_pred)):
        p_, r_, f_ = prf(tp[name], n_pred[name], n_gold[name])
        per_predicate[name] = {"precision": p_, "recall": r_, "f1": f_, "support": n_gold[name]}
    return {"precision": precision, "recall": recall, "f1": f1, "tp": sum(tp.values()),
            "n_pred": sum(n_pred.values()), "n_gold": sum(n_gold.values()), "per_predicate": per_predicate}


def _round(x):
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    return x


HEADLINE_KEYS = ("precision", "recall", "f1")


def headline(scores: dict) -> dict:
    """The part of ``score``'s result that goes into a DVC metrics file (a column each in `dvc exp show`)."""
    return {k: scores[k] for k in HEADLINE_KEYS}


def per_predicate_rows(scores: dict) -> list[dict]:
    """``score``'s per-predicate breakdown as DVC plot rows, most frequent predicate first.

    Kept out of the metrics files: four columns per predicate would make `dvc exp show` unreadable."""
    items = sorted(scores["per_predicate"].items(), key=lambda kv: (-kv[1]["support"], kv[0]))
    return [{"predicate": name, **entry} for name, entry in items]


def write_metrics(path, metrics: dict | list) -> None:
    """DVC metrics (or plot data) JSON, floats rounded to 6 digits so reruns diff cleanly."""
    with atomic_write(path) as f:
        json.dump(_round(metrics), f, ensure_ascii=False, indent=2)
        f.write("\n")
