"""The file-writing discipline every stage uses: a file or folder appears whole or not at all.

`atomic_write` / `atomic_dir` fill a temp entry ``.<name>.<pid>.<8 hex>.tmp`` (or ``.tmpdir``, ``.old``) beside
the target and rename it into place; `remove_stale_temps` sweeps the temp entries a killed process left behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w"):
    """Write to a temp file beside `path`, then rename: readers never see a half-written file."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with (open(fd, "w", encoding="utf-8", newline="\n") if mode == "w" else open(fd, "wb")) as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:          # a failed write (ENOSPC) names no file: name the one being written
            e.filename = str(path)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temp folder beside `path` to fill; on success it replaces `path` (an existing folder is
    moved aside and removed only after the swap), on any exception it is removed and the old folder stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}.tmpdir"
    tmp.mkdir()
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)        # mkdtemp makes it private; the output folder should not be
        yield tmp
        old = None
        if path.exists():
            old = tmp.with_suffix(".old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_remove_dir(path) -> bool:
    """Remove the folder ``path`` as one step for readers: it is renamed to a temp name first, so a process
    killed while deleting leaves a temp folder (swept by `remove_stale_temps`), never half a folder under
    ``path``. False when there was nothing to remove."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        return False
    doomed = path.parent / f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}.old"
    os.replace(path, doomed)
    shutil.rmtree(doomed)
    return True


# the temp entries `atomic_write` / `atomic_dir` / `atomic_remove_dir` make beside ``<name>``; `utils.os_error_message` reads the
# name back (an OS error on a temp entry is reported on its target)
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.(tmp|tmpdir|old)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(roots) -> list[Path]:
    """Remove what `atomic_write` / `atomic_dir` of a killed process left under ``roots`` (temp files and
    folders named ``.<name>.<pid>.<hex>.tmp|tmpdir|old`` whose process is gone); returns what was removed."""
    removed = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                match = TEMP_NAME.match(name)
                if not match or _alive(int(match.group("pid"))) and int(match.group("pid")) != os.getpid():
                    continue
                path = Path(folder) / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink(
                    missing_ok=True)
                removed.append(path)
            dirs[:] = [d for d in dirs if not TEMP_NAME.match(d)]
    return removed
