"""Small helpers shared by the stages."""

from __future__ import annotations

import random
import sys
import time

import numpy as np


def set_seed(seed: int) -> None:
    """Seed python, numpy and (when installed) Keras/TF, so a rerun with the same params gives the same result.

    Keras is imported here, not at module level, so data-only code never pays for TensorFlow.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras
    except ImportError:
        return
    keras.utils.set_random_seed(seed)


def log(msg: str) -> None:
    """Timestamped progress line on stderr (stdout stays free for data)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
