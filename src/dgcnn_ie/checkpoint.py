"""Per-epoch training checkpoints, so that a killed `train` / `cv_raw` / `cv` stage resumes at its next epoch.

A checkpoint is a folder (written atomically, `data.atomic_dir`) with ``state.json`` (the
loop's state: epoch, step, plateau flag, history, best epoch and scores, and the
fingerprint of everything the training depends on) and ``arrays.npz`` (the values of every
model variable, dropout seed states included, of the optimiser's and the EMA's variables,
and the best weights so far). A checkpoint whose fingerprint differs from the run's (other
params, other data, other word vectors) is never resumed from. When the training ends the
folder keeps only a ``state.json`` marked complete, so finished runs cost no disk.

This module only moves numpy arrays and JSON; `train.train_model` decides what goes in.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .data import atomic_dir

VERSION = 1
STATE_FILE, ARRAYS_FILE = "state.json", "arrays.npz"


def digest(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts`` (dicts with sorted keys, tuples as lists)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=_plain).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _plain(value: Any):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "__dict__"):
        return vars(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def file_digest(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of ``paths`` (in the given order) and their names."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).name.encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def save(directory, fingerprint: str, state: dict, arrays: dict[str, list[np.ndarray]]) -> None:
    """Replace the checkpoint at ``directory`` with this one (readers see the old or the new, never half)."""
    flat = {f"{group}/{i:05d}": np.asarray(a) for group, values in arrays.items() for i, a in enumerate(values)}
    with atomic_dir(directory) as tmp:
        with open(tmp / ARRAYS_FILE, "wb") as f:
            np.savez(f, **flat)
        (tmp / STATE_FILE).write_text(json.dumps({"version": VERSION, "fingerprint": fingerprint, "complete": False,
                                                  **state}, indent=1) + "\n", encoding="utf-8")


def mark_complete(directory, fingerprint: str, summary: dict) -> None:
    """The training finished: keep only a small state.json (no arrays)."""
    with atomic_dir(directory) as tmp:
        (tmp / STATE_FILE).write_text(json.dumps({"version": VERSION, "fingerprint": fingerprint, "complete": True,
                                                  **summary}, indent=1) + "\n", encoding="utf-8")


def load(directory, fingerprint: str) -> tuple[dict, dict[str, list[np.ndarray]]] | tuple[None, str]:
    """``(state, arrays)`` of a resumable checkpoint made for ``fingerprint``, else ``(None, why not)``."""
    directory = Path(directory)
    path = directory / STATE_FILE
    if not path.is_file():
        return None, "no checkpoint"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"{path}: unreadable ({e}); starting afresh"
    if state.get("version") != VERSION:
        return None, f"{path}: checkpoint version {state.get('version')!r}, not {VERSION}; starting afresh"
    if state.get("fingerprint") != fingerprint:
        return None, f"{path}: made with other params or inputs; starting afresh"
    if state.get("complete"):
        return None, f"{path}: that training had finished; starting afresh"
    try:
        with np.load(directory / ARRAYS_FILE) as npz:
            arrays: dict[str, list[np.ndarray]] = {}
            for key in sorted(npz.files):
                group, _ = key.rsplit("/", 1)
                arrays.setdefault(group, []).append(npz[key])
    except (OSError, ValueError, KeyError) as e:
        return None, f"{directory / ARRAYS_FILE}: unreadable ({e}); starting afresh"
    return state, arrays
