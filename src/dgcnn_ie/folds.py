"""Cross-validation folds: making the assignment that data/folds.json records, reading it back, splitting by it."""

from __future__ import annotations

import json
import random

from .data import DataError, Sample


def make_folds(n: int, k: int, seed: int) -> list[int]:
    """Fold of each of n samples: a seeded shuffle dealt round-robin, so fold sizes differ by at most one."""
    if k < 2 or n < k:
        raise ValueError(f"need 2 <= k <= n for {k}-fold cross-validation of {n} samples")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    assignment = [0] * n
    for rank, i in enumerate(order):
        assignment[i] = rank % k
    return assignment


def _line_of(source: str) -> str:
    return source.rpartition(":")[2]


def load_folds(path, samples: list[Sample] | None = None) -> list[int]:
    """Fold assignment from `folds.json`; given the samples, checks it was made for the same lines.

    Only line numbers are compared, so a file read under another path spelling, or a
    line-for-line rewrite of the training file (e.g. cleaned labels), still matches.
    """
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assignment = doc["assignment"]
    if len(assignment) != doc["n"] or any(not 0 <= a < doc["k"] for a in assignment):
        raise DataError(f"{path}:1: inconsistent fold file (n={doc['n']}, k={doc['k']})")
    if samples is not None and [_line_of(s.source) for s in samples] != [_line_of(s) for s in doc["sources"]]:
        raise DataError(f"{path}:1: folds were made for other samples ({doc['n']} listed, {len(samples)} read); "
                        f"re-run the folds stage")
    return assignment


def split(samples: list, assignment: list[int], fold: int) -> tuple[list, list]:
    """(training samples, held-out samples of `fold`)."""
    if len(samples) != len(assignment):
        raise ValueError(f"{len(samples)} samples but {len(assignment)} fold assignments")
    if fold not in set(assignment):
        raise ValueError(f"fold {fold} is not in the assignment (folds {sorted(set(assignment))})")
    train = [s for s, a in zip(samples, assignment, strict=True) if a != fold]
    held = [s for s, a in zip(samples, assignment, strict=True) if a == fold]
    return train, held
