"""Cross-validation layout and the hierarchical ensemble (method §7).

Within a family, the fold models' probabilities are averaged (`decode.AveragedModel`):
subjects are decoded from the mean subject probabilities, then, for each decoded
subject, objects from the mean object probabilities. Across families, the triple
sets are united. TensorFlow is only imported when models are loaded or run.

Layout of the CV stages (`round` is "raw" for `cv_raw`, "clean" for `cv`):
`models/<cv_raw|cv/<family>>/fold<f>/` (an Extractor folder),
`predictions/.../fold<f>/oof.json` (held-out fold) and `train.json` (raw round: the
whole training set), `reports/.../fold<f>.json` and `reports/.../fold<f>/` (history).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .data import DataError, Sample, Schema, Triple, read_dataset
from .decode import AveragedModel, Thresholds

ROUNDS = ("raw", "clean")
FAMILIES = ("plain", "prior")
MODES = ("single", "average", "union")


def _stem(round_: str, family: str) -> str:
    if round_ not in ROUNDS:
        raise ValueError(f"round must be one of {ROUNDS}, got {round_!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if round_ == "raw" and family != "plain":
        raise ValueError("the raw round (label cleaning) trains the plain family only")
    return "cv_raw" if round_ == "raw" else f"cv/{family}"


def model_dir(round_: str, family: str, fold: int) -> Path:
    return Path("models") / _stem(round_, family) / f"fold{fold}"


def predictions_dir(round_: str, family: str, fold: int) -> Path:
    return Path("predictions") / _stem(round_, family) / f"fold{fold}"


def report_path(round_: str, family: str, fold: int) -> Path:
    return Path("reports") / _stem(round_, family) / f"fold{fold}.json"


def history_dir(round_: str, family: str, fold: int) -> Path:
    return Path("reports") / _stem(round_, family) / f"fold{fold}"


def read_predictions(path, samples: Sequence[Sample], schema: Schema, normalize: str) -> list[set[Triple]]:
    """A predictions file written by `data.write_predictions` over ``samples`` -> one triple set per sample."""
    predicted, _ = read_dataset(path, schema, on_error="raise", normalize=normalize)
    if len(predicted) != len(samples):
        raise DataError(f"{path}:1: {len(predicted)} predicted lines for {len(samples)} samples; "
                        f"re-run the stage that wrote it")
    for p, s in zip(predicted, samples):
        if p.raw.get("text") != s.raw.get("text"):
            raise DataError(f"{p.source}: text differs from {s.source}: predictions are for another file")
    return [set(p.triples) for p in predicted]


def union(prediction_lists: Sequence[Sequence[set[Triple]]]) -> list[set[Triple]]:
    """Per sentence, the union of several systems' triple sets."""
    if not prediction_lists:
        raise ValueError("union of no prediction lists")
    n = len(prediction_lists[0])
    if any(len(p) != n for p in prediction_lists):
        raise ValueError(f"prediction lists of different lengths: {[len(p) for p in prediction_lists]}")
    return [set().union(*sets) for sets in zip(*prediction_lists)]


def load_models(dirs: Sequence, loader: Callable | None = None) -> dict[str, object]:
    """Each distinct model folder loaded exactly once (``loader`` defaults to `extractor.load_extractor`)."""
    if loader is None:
        from .extractor import load_extractor as loader
    loaded: dict[str, object] = {}
    for d in dirs:
        if str(d) not in loaded:
            loaded[str(d)] = loader(d)
    return loaded


def predict(models: Sequence, samples: Sequence[Sample], schema: Schema, thresholds: Thresholds,
            batch_size: int, candidates: Sequence[list] | None = None) -> list[set[Triple]]:
    """Triples of the averaged ``models`` (one model: that model) for every sample."""
    from .extractor import predict_samples
    model = models[0] if len(models) == 1 else AveragedModel(models)
    return predict_samples(model, samples, schema, thresholds=thresholds, batch_size=batch_size,
                           candidates=candidates, show_progress=False)


def select(mode: str, single: list[set[Triple]], average: list[set[Triple]],
           united: list[set[Triple]]) -> list[set[Triple]]:
    """The predictions ``ensemble.mode`` sends to the submission."""
    if mode not in MODES:
        raise ValueError(f"ensemble.mode must be one of {MODES}, got {mode!r}")
    return {"single": single, "average": average, "union": united}[mode]
