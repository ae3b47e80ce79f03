"""Bias-corrected exponential moving average of trainable weights (method.md §4).

The shadow starts at ZERO and is read as shadow / (1 - decay^t). Without the
correction an EMA started from the random initial weights stays mostly random
for ~1/(1-decay) steps (F1 stuck at 0 with decay 0.9999 on a short run).

All state lives in Keras variables and every update is a variable assignment
built from ops, so ``update()`` (and ``applied()``) work inside a
``tf.function``-compiled train step as well as eagerly. Under JAX the compiled step updates the same
state as arrays and writes it back (`dgcnn_ie.backend.TrainStep`).
"""

from __future__ import annotations

from contextlib import contextmanager

import keras
import numpy as np
from keras import ops


class BiasCorrectedEMA:
    """EMA of the trainable variables among ``variables``.

    ``update()`` after each optimiser step; ``applied()`` (or ``apply()`` then
    ``restore()``) to evaluate/save with EMA weights and get the raw ones back;
    ``assign_to_model()`` to keep the EMA weights for good.
    """

    def __init__(self, variables, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.variables = [v for v in variables if v.trainable]
        # One float32 decay for the update and its exact float64 value for the
        # correction, so the weights in the shadow sum to exactly 1 - decay^t.
        self._decay = np.float32(decay)
        self._shadow = [self._zeros_like(v, "ema_shadow") for v in self.variables]
        self._backup = [self._zeros_like(v, "ema_backup") for v in self.variables]
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="ema_step")
        self._applied = False

    @property
    def decay(self) -> float:
        """The decay, as the float32 the update multiplies by."""
        return float(self._decay)

    @property
    def state_variables(self) -> list:
        """The variables that hold the average (shadow and step): what a checkpoint saves."""
        return [*self._shadow, self.step]

    @staticmethod
    def _zeros_like(var, name):
        dtype = keras.backend.standardize_dtype(var.dtype)  # also takes tf.DType
        return keras.Variable(np.zeros(tuple(var.shape), dtype=dtype), trainable=False, name=name)

    def update(self) -> None:
        """shadow = decay·shadow + (1-decay)·w for every variable; t += 1."""
        decay = self._decay
        for shadow, var in zip(self._shadow, self.variables):
            d = ops.cast(decay, var.dtype)
            shadow.assign(shadow * d + var * (ops.cast(1.0, var.dtype) - d))
        self.step.assign_add(1)

    def averages(self) -> list:
        """The bias-corrected EMA values; the raw weights before any update."""
        step = _value(self.step)                      # values, not Variables: JAX's ops take arrays only
        t = ops.cast(ops.maximum(step, 1), "float64")
        correction = 1.0 / (1.0 - ops.power(ops.convert_to_tensor(float(self._decay), "float64"), t))
        started = ops.greater(step, 0)
        return [
            ops.where(started, _value(shadow) * ops.cast(correction, var.dtype), _value(var))
            for shadow, var in zip(self._shadow, self.variables)
        ]

    def apply(self) -> None:
        """Put the EMA values into the variables, keeping the raw ones aside."""
        if self._applied:
            raise RuntimeError("EMA weights are already applied")
        averages = self.averages()
        for backup, var, avg in zip(self._backup, self.variables, averages):
            backup.assign(var)
            var.assign(avg)
        self._applied = True

    def restore(self) -> None:
        """Undo ``apply()``: the raw (trained) weights come back."""
        if not self._applied:
            raise RuntimeError("restore() without a preceding apply()")
        for backup, var in zip(self._backup, self.variables):
            var.assign(backup)
        self._applied = False

    @contextmanager
    def applied(self):
        """``with ema.applied(): evaluate()`` -- raw weights restored on exit."""
        self.apply()
        try:
            yield self
        finally:
            self.restore()

    def assign_to_model(self) -> None:
        """Overwrite the variables with the EMA values permanently."""
        if self._applied:
            raise RuntimeError("assign_to_model() inside applied(): restore first")
        for var, avg in zip(self.variables, self.averages()):
            var.assign(avg)


def _value(variable):
    """A Keras variable's current value (a backend array); anything else (a tf.Variable) as is."""
    return variable.value if isinstance(variable, keras.Variable) else variable
