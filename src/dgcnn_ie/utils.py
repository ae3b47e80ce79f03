"""Small helpers shared by the stages."""

from __future__ import annotations

import contextlib
import random
import signal
import sys
import time

import numpy as np


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


def log(msg: str) -> None:
    """Timestamped progress line on stderr (stdout stays free for data)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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
