"""Small helpers shared by the stages and the command-line tools."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from .files import TEMP_NAME


def set_seed(seed: int) -> None:
    """Seed python, numpy and (when installed) Keras and its backend, so a rerun with the same params gives
    the same result.

    Keras is imported here, not at module level, so data-only code never pays for TensorFlow. Under Keras's
    JAX backend, ``keras.utils.set_random_seed`` would import TensorFlow when it is installed (it seeds TF
    for ``tf.data``), so there only the global seed Keras layers draw from is set, as that function does.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras
    except ImportError:
        return
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)


def seeded_holdout(n: int, k: int, seed: int) -> set[int]:
    """The indices of a seeded sample of ``k`` of ``n`` items (prepare's dev part of a training file without a
    dev file)."""
    return set(random.Random(seed).sample(range(n), k))


def log(msg: str) -> None:
    """Timestamped progress line on stderr (stdout stays free for data)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- expected errors
EXIT_ERROR = 2          # every expected error of every stage and command (argparse's usage errors are 2 too)


def error_exit(message: str) -> int:
    """Print ``error: <message>`` as one line on stderr (a multi-line reason is joined); returns `EXIT_ERROR`."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return EXIT_ERROR


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2, like every other expected error."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"error: {message} ({self.prog} --help)\n")


def os_error_message(e: OSError, where: str | os.PathLike | None = None) -> str:
    """``<path>: <reason> (<ERRNO>)`` for an OS failure, e.g. ``submission/x.json: Read-only file system (EROFS)``.

    The path is the one the error names (a temp file of an atomic write stands for its target), else
    ``where``: a write or close on an open file (a full disk) raises with no file name, and only the
    caller knows what it was writing."""
    named = [os.fsdecode(f) for f in (e.filename, e.filename2) if isinstance(f, (str, bytes, os.PathLike))]
    if named:
        head, name = os.path.split(named[0])
        temp = TEMP_NAME.match(name)          # an atomic write's temp entry: report its target, the user's path
        path = os.path.join(head, temp.group("name")) if temp else named[0]
    else:
        path = os.fspath(where) if where is not None else ""
    code = errno.errorcode.get(e.errno, "") if isinstance(e.errno, int) else ""
    reason = (e.strerror or str(e)) + (f" ({code})" if code else "")
    return f"{path}: {reason}" if path else reason


def quiet_tensorflow() -> None:
    """TensorFlow's C++ log lines (CPU features, oneDNN, XLA...) off unless the user asked for them: call
    before TensorFlow is imported; a ``TF_CPP_MIN_LOG_LEVEL`` the user set (e.g. 0, all of them) wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_native_logs():
    """Around the imports that load TensorFlow: while ``TF_CPP_MIN_LOG_LEVEL`` is 3 (`quiet_tensorflow`'s
    default), the process's stderr (file descriptor 2) goes to /dev/null.

    TensorFlow 2.21 writes two lines at ``import tensorflow`` whatever the level ("WARNING: All log messages
    before absl::InitializeLog() is called..." and "oneDNN custom operations are on..."): absl logs them
    before TensorFlow applies its level. Nothing else is lost: Python's exceptions propagate and are
    printed after the descriptor is restored. A user who sets another level sees everything."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3" or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def run_child(command: list[str]) -> int:
    """Run ``command`` to its end and return its exit status as a shell reports it (128 + signal when a
    signal ended it, not Python's negative code). Ctrl-C reaches the child too (same process group): this
    process waits for the child to finish its own clean-up instead of killing it, and passes a SIGTERM on."""
    with subprocess.Popen(command) as child:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        try:
            while True:
                try:
                    code = child.wait()
                    break
                except KeyboardInterrupt:
                    continue
        finally:
            signal.signal(signal.SIGTERM, previous)
    return 128 - code if code < 0 else code


# ---------------------------------------------------------------------------------------- stopping cleanly
class Stopped(BaseException):
    """SIGTERM / SIGINT arrived: unwind (every ``finally`` and temp-file cleanup runs), then exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_deferring = 0
_pending: int | None = None


def _on_signal(signum, frame):
    global _pending
    if _deferring:            # inside TensorFlow: an exception raised there can be swallowed by its tracing
        _pending = signum
        return
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals():
    """SIGTERM and SIGINT raise `Stopped` (at once, or at the next `raise_if_stopped` inside `deferred_stop`)."""
    handlers = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred_stop():
    """A signal arriving in this block only marks the stop; `raise_if_stopped` (call it at safe points, e.g.
    between training steps) and the end of the block raise it."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    raise_if_stopped()


def raise_if_stopped() -> None:
    global _pending
    if _pending is not None:
        signum, _pending = _pending, None
        raise Stopped(signum)
