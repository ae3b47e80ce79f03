"""The training loss (method §4): masked means of per-position cross-entropies of the four outputs."""

from __future__ import annotations

from keras import ops

from .layers import PredicateChannels
from .views import OBJECT_OUTPUTS, SUBJECT_OUTPUTS, Models

_EPSILON = 1e-7


def masked_loss(targets: dict, outputs: dict, mask, softmax_objects: bool = False, subject_weight: float = 1.0):
    """Sum of four masked-mean terms (method §4): BCE for subject start/end, and for
    object start/end BCE summed over predicates, or with ``softmax_objects`` (the
    baselines' heads) the categorical cross-entropy; means over the batch's real
    positions. The subject terms are multiplied by ``subject_weight`` (kg.py: 2.5)."""
    mask = ops.cast(mask, "float32")
    count = ops.maximum(ops.sum(mask), 1.0)
    total = 0.0
    for key in SUBJECT_OUTPUTS + OBJECT_OUTPUTS:
        if key in OBJECT_OUTPUTS and softmax_objects:
            term = _categorical_objects(targets[key], outputs[key])
        elif key in OBJECT_OUTPUTS:
            term = ops.sum(_binary_crossentropy(targets[key], outputs[key]), axis=-1)
        else:
            term = _binary_crossentropy(targets[key], outputs[key])
        weight = subject_weight if key in SUBJECT_OUTPUTS else 1.0
        total = total + weight * (ops.sum(term * mask) / count)
    return total


def has_softmax_objects(models: Models) -> bool:
    """Whether the object heads are softmaxes over "no object" + predicates (the baselines,
    `bilstm` and `kg2019_baseline`) rather than independent sigmoids: read from the layers themselves, so a
    loaded or renamed model gets the loss its heads need."""
    return any(isinstance(layer, PredicateChannels) for layer in models.train.layers)


def _binary_crossentropy(target, prob):
    prob = ops.clip(ops.cast(prob, "float32"), _EPSILON, 1.0 - _EPSILON)   # float32 under mixed precision too
    target = ops.cast(target, prob.dtype)
    return -(target * ops.log(prob) + (1.0 - target) * ops.log(1.0 - prob))


def _categorical_objects(target, prob):
    """Cross-entropy per position of softmax heads given only their C predicate channels:
    P(no object) = 1 - sum(prob); a position that starts objects of several predicates
    spreads the target evenly over them."""
    prob = ops.cast(prob, "float32")
    target = ops.cast(target, prob.dtype)
    hits = ops.sum(target, axis=-1)
    share = target / ops.maximum(hits, 1.0)[..., None]
    none = ops.clip(1.0 - ops.sum(prob, axis=-1), _EPSILON, 1.0)
    log_prob = ops.log(ops.clip(prob, _EPSILON, 1.0))
    return -(ops.sum(share * log_prob, axis=-1) + ops.cast(hits == 0, prob.dtype) * ops.log(none))
