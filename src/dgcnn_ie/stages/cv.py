"""DVC stage `cv@<family>-F`: fold F's model of a family on the cleaned labels (method §7).

    python -m dgcnn_ie.stages cv --family NAME --fold F

The family (declared under `families` in params.yaml) gives the model overrides and whether
the model sees prior features: then its candidates come from `features/prior/train.json`
(fold F's KB, self-excluded) and that KB gives the candidates of augmented texts. Writes
`models/cv/<family>/foldF/`, `predictions/cv/<family>/foldF/oof.json`,
`reports/cv/<family>/foldF.json` and its history (see `dgcnn_ie.crossval`).
"""
from __future__ import annotations

import argparse

from .. import layout
from ..config import Config, ConfigError, family_model
from ..crossval import train_fold
from ..data import load_schema, read_samples
from ..prior import KnowledgeBase, load_candidates

PARAMS = ("seed", "data.format", "data.normalize", "data.on_error", "segment.backend", "segment.cache",
          "model", "train", "decode.batch_size", "cv.epochs", "families")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", required=True, help="a family declared under `families` in params.yaml")
    parser.add_argument("--fold", type=int, required=True, help="the held-out fold")


def position(config: Config, *, family: str, fold: int) -> tuple[int, int]:
    """(k, N): this model's place among the cv models (families x folds), for the progress lines."""
    runs = [(fam, f) for fam in config.cv.families for f in config.cv.folds]
    return (runs.index((family, fold)) + 1, len(runs)) if (family, fold) in runs else (1, 1)


def run(config: Config, *, family: str, fold: int, position: tuple[int, int] = (1, 1)) -> dict:
    """Train fold ``fold``'s model of ``family``; returns its metrics."""
    if family not in config.families:
        raise ConfigError(f"families: no family {family!r} (declared: {', '.join(config.families)})")
    spec = config.families[family]
    schema = load_schema(layout.PREPARED_SCHEMA, config.data.format)
    # the cleaned file is the prepared one line for line (same fold assignment), with other labels
    samples = read_samples(layout.CLEANED_TRAIN, schema, config.data)
    candidates = None
    if spec.prior:
        candidates = load_candidates(layout.PRIOR_DIR, "train", fold, samples=samples, schema=schema)
    return train_fold(config, layout.cv(family, fold), samples, family_model(config.model, spec),
                      candidates=candidates, kb_of=lambda train: KnowledgeBase.build(train, schema),
                      position=position)
