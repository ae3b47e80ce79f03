"""The neural model: layers, the DGCNN and the baselines, their views (train, subject, object, sentence,
object_head) and the loss. These names are the package's interface; the modules say what each part does."""

from .losses import has_softmax_objects, masked_loss
from .views import (
    OBJECT_INPUTS,
    OBJECT_OUTPUTS,
    SUBJECT_INPUTS,
    SUBJECT_OUTPUTS,
    Models,
    build_models,
    load_models,
    split_models,
)
from .layers import MaskedMaxPool

__all__ = [
    "OBJECT_INPUTS",
    "OBJECT_OUTPUTS",
    "SUBJECT_INPUTS",
    "SUBJECT_OUTPUTS",
    "MaskedMaxPool",
    "Models",
    "build_models",
    "has_softmax_objects",
    "load_models",
    "masked_loss",
    "split_models",
]
