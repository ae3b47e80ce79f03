"""Per-epoch training checkpoints, so that a killed `train` / `cv_raw` / `cv` stage resumes at its next epoch.

A checkpoint is a folder (written atomically, `files.atomic_dir`) with ``state.json`` (the
loop's state: epoch, step, plateau flag, history, best epoch and scores, and the
fingerprint of everything the training depends on) and ``arrays.npz`` (the values of every
model variable, dropout seed states included, of the optimiser's and the EMA's variables,
and the best weights so far). A checkpoint whose fingerprint differs from the run's (other
params, other data, other word vectors) is never resumed from.

Checkpoints are scratch, not results: dvc.yaml does not declare them (a `persist` output would keep DVC from
saving the stage to its run-cache, `dvc.stage.cache._can_hash`), and /checkpoints is git-ignored. The
cleanup rule: a model has at most one checkpoint folder (``layout.CHECKPOINTS/<model>``); a training of
other params replaces it at its first save, and the stage removes it (`discard`) once the model and its
reports are written, so a finished pipeline leaves no checkpoint. A stage killed before that point has
saved nothing to the run-cache (DVC saves a stage only after its command succeeded), and its rerun resumes.

A checkpoint that cannot be read whole (a truncated or garbled ``arrays.npz`` or ``state.json``, a
bad CRC, a missing file, keys or array shapes that do not fit the run's model) is reported in one
line, set aside as ``<folder>.unreadable-<n>`` beside it (e.g. ``checkpoints/single.unreadable-1``:
renamed, never deleted, so it can be looked at; `files.remove_stale_temps` does not sweep it; delete it
by hand), and the training starts afresh. A valid checkpoint that is not for this run (another version or
fingerprint) is not set aside: the run starts afresh and its first save replaces it.

This module only moves numpy arrays and JSON; `train.train_model` decides what goes in.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .files import atomic_dir, atomic_remove_dir

VERSION = 3       # 3: no `complete` flag (a finished training's checkpoint is removed, `discard`)
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


def save(directory, fingerprint: str, state: dict, arrays: dict[str, list[np.ndarray]]) -> None:
    """Replace the checkpoint at ``directory`` with this one (readers see the old or the new, never half)."""
    flat = {f"{group}/{i:05d}": np.asarray(a) for group, values in arrays.items() for i, a in enumerate(values)}
    with atomic_dir(directory) as tmp:
        with open(tmp / ARRAYS_FILE, "wb") as f:
            np.savez(f, **flat)
        (tmp / STATE_FILE).write_text(json.dumps({"version": VERSION, "fingerprint": fingerprint, **state}, indent=1) + "\n", encoding="utf-8")


def discard(directory) -> bool:
    """The training's outputs are written: remove its checkpoint (`files.atomic_remove_dir`)."""
    return atomic_remove_dir(directory)


class Unreadable(Exception):
    """A checkpoint file that cannot be read whole or does not fit the run; ``str()`` is one line."""

    def __init__(self, path, why: str):
        super().__init__(f"{path}: {' '.join(str(why).split())}")


# what reading a damaged zip / .npy raises (zipfile's BadZipFile, e.g. "Bad CRC-32", is none of the others)
_READ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def load(directory, fingerprint: str, *, fields: dict[str, Callable[[Any], bool]] | None = None,
         shapes: dict[str, list[tuple]] | None = None
         ) -> tuple[dict, dict[str, list[np.ndarray]]] | tuple[None, str]:
    """``(state, arrays)`` of a resumable checkpoint made for ``fingerprint``, else ``(None, why not)``.

    Everything is read and checked before anything is returned, so the caller never assigns half a
    checkpoint: ``fields`` maps each state key the caller reads to a check of its value; ``shapes``
    maps each array group to the shapes of the variables it will be assigned to (a group absent from
    the file holds no arrays and comes back as ``[]``; a group not named is refused). A checkpoint
    that fails is set aside (`set_aside`), and ``why`` (one line) names the file, the reason and
    where the folder went.
    """
    directory = Path(directory)
    if not directory.exists() or directory.is_dir() and not any(directory.iterdir()):
        return None, "no checkpoint"
    path = directory / STATE_FILE
    try:
        state = _read_state(path)
        if state.get("version") != VERSION:
            return None, f"{path}: checkpoint version {state.get('version')!r}, not {VERSION}; starting afresh"
        if state.get("fingerprint") != fingerprint:
            return None, f"{path}: made with other params or inputs; starting afresh"
        for key, check in (fields or {}).items():
            if key not in state or not check(state[key]):
                raise Unreadable(path, f"missing or invalid {key!r}")
        arrays = _read_arrays(directory / ARRAYS_FILE)
        if shapes is not None:
            _check_shapes(directory / ARRAYS_FILE, arrays, shapes)
            arrays = {group: arrays.get(group, []) for group in shapes}
    except Unreadable as e:
        return None, f"{e}; set aside as {set_aside(directory)}, starting afresh"
    return state, arrays


def set_aside(directory) -> Path:
    """Rename ``directory`` to the first free ``<name>.unreadable-<n>`` beside it (kept for a look, not deleted)."""
    directory = Path(directory)
    n = 1
    while (target := directory.with_name(f"{directory.name}.unreadable-{n}")).exists() or target.is_symlink():
        n += 1
    os.rename(directory, target)
    return target


def _read_state(path: Path) -> dict:
    if not path.is_file():
        raise Unreadable(path, "missing")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Unreadable(path, f"unreadable ({e})") from None
    if not isinstance(state, dict):
        raise Unreadable(path, f"a JSON {type(state).__name__}, not an object")
    return state


def _read_arrays(path: Path) -> dict[str, list[np.ndarray]]:
    """Every array of the ``np.savez`` file ``path``, each member read to its end (so its CRC is checked)."""
    if not path.is_file():
        raise Unreadable(path, "missing")
    found: dict[str, dict[int, np.ndarray]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                group, _, index = name.removesuffix(".npy").rpartition("/")
                if not (name.endswith(".npy") and group and index.isdigit()):
                    raise Unreadable(path, f"unexpected member {name!r}")
                member = io.BytesIO(zf.read(name))
                array = np.lib.format.read_array(member, allow_pickle=False)
                if member.read(1) or array.dtype.kind not in "biuf":
                    raise Unreadable(path, f"member {name!r} is not one numeric array")
                found.setdefault(group, {})[int(index)] = array
    except _READ_ERRORS as e:
        raise Unreadable(path, f"unreadable ({type(e).__name__}: {e})") from None
    arrays = {}
    for group, by_index in found.items():
        if sorted(by_index) != list(range(len(by_index))):
            raise Unreadable(path, f"{group!r} arrays are not numbered 0..{len(by_index) - 1}")
        arrays[group] = [by_index[i] for i in range(len(by_index))]
    return arrays


def _check_shapes(path: Path, arrays: dict[str, list[np.ndarray]], shapes: dict[str, list[tuple]]) -> None:
    extra = sorted(set(arrays) - set(shapes))
    if extra:
        raise Unreadable(path, f"unexpected array group {extra[0]!r}")
    for group, want in shapes.items():
        got = [tuple(a.shape) for a in arrays.get(group, [])]
        want = [tuple(s) for s in want]
        if len(got) != len(want):
            raise Unreadable(path, f"{len(got)} {group} arrays for {len(want)} variables")
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                raise Unreadable(path, f"{group} array {i} has shape {g}, its variable {w}")
