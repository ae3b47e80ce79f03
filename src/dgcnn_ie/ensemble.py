"""The hierarchical ensemble (method §7) and the members of the submitted system.

Within a family, the fold models' probabilities are averaged (`decode.AveragedModel`):
subjects are decoded from the mean subject probabilities, then, for each decoded
subject, objects from the mean object probabilities. Across families, the triple
sets are united. TensorFlow is only imported when models are loaded or run. Where
the fold models live: `dgcnn_ie.layout`.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

from .config import ENSEMBLE_MODES
from .data import Sample, Schema, Triple
from .decode import AveragedModel, Thresholds


def system_members(mode: str, families: Sequence[str], folds: Sequence[int]) -> dict[str, list[int]]:
    """Family -> folds of the cv models that make up the system ``ensemble.mode`` submits: `single`,
    the first fold of the first family; `average`, every fold of the first family (averaged);
    `union`, every fold of every family (averaged within a family, united across)."""
    if mode not in ENSEMBLE_MODES:
        raise ValueError(f"ensemble.mode must be one of {ENSEMBLE_MODES}, got {mode!r}")
    if not families or not folds:
        raise ValueError("a system needs at least one family and one fold")
    if mode == "single":
        return {families[0]: [folds[0]]}
    if mode == "average":
        return {families[0]: list(folds)}
    return {family: list(folds) for family in families}


def union(prediction_lists: Sequence[Sequence[set[Triple]]]) -> list[set[Triple]]:
    """Per sentence, the union of several systems' triple sets."""
    if not prediction_lists:
        raise ValueError("union of no prediction lists")
    n = len(prediction_lists[0])
    if any(len(p) != n for p in prediction_lists):
        raise ValueError(f"prediction lists of different lengths: {[len(p) for p in prediction_lists]}")
    return [set().union(*sets) for sets in zip(*prediction_lists)]


def load_models(dirs: Sequence, loader: Callable | None = None, word2vec_path=None) -> dict[str, object]:
    """Each distinct model folder loaded exactly once (``loader`` defaults to `extractor.load_extractor`, given
    ``word2vec_path``: the word vectors' folder, used by the models that read word vectors)."""
    if loader is None:
        from .extractor import load_extractor
        loader = functools.partial(load_extractor, word2vec_path=word2vec_path)
    loaded: dict[str, object] = {}
    for d in dirs:
        if str(d) not in loaded:
            loaded[str(d)] = loader(d)
    return loaded


def predict(models: Sequence, samples: Sequence[Sample], schema: Schema, thresholds: Thresholds,
            batch_size: int, candidates: Sequence[list] | None = None) -> list[set[Triple]]:
    """Triples of the averaged ``models`` (one model: that model) for every sample, before any prediction
    rule: the rules apply once, to what a system finally predicts (some are not idempotent)."""
    from .extractor import predict_samples
    model = models[0] if len(models) == 1 else AveragedModel(models)
    return predict_samples(model, samples, schema, thresholds=thresholds, batch_size=batch_size,
                           candidates=candidates, show_progress=False)


