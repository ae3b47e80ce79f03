"""DVC stage `cv_raw@F`: fold F's model on the raw training labels, the voters of label cleaning (method §7).

    python -m dgcnn_ie.stages cv_raw --fold F

The `model` section as is, no prior features. Writes `models/cv_raw/foldF/`,
`predictions/cv_raw/foldF/{oof,train}.json` (the held-out fold, and the whole training
set for the clean stage's votes), `reports/cv_raw/foldF.json` and its history
(see `dgcnn_ie.crossval`).
"""
from __future__ import annotations

import argparse

from .. import layout
from ..config import Config
from ..crossval import train_fold
from ..data import load_schema, read_samples

PARAMS = ("seed", "data.format", "data.normalize", "data.on_error", "segment.backend", "segment.cache",
          "model", "train", "decode.batch_size", "cv.epochs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fold", type=int, required=True, help="the held-out fold")


def position(config: Config, *, fold: int) -> tuple[int, int]:
    """(k, N): this fold's place among the cv_raw models of ``cv.folds`` (for the progress lines)."""
    folds = list(config.cv.folds)
    return (folds.index(fold) + 1, len(folds)) if fold in folds else (1, 1)


def run(config: Config, *, fold: int, position: tuple[int, int] = (1, 1)) -> dict:
    """Train fold ``fold``'s raw-label model; returns its metrics."""
    schema = load_schema(layout.PREPARED_SCHEMA, config.data.format)
    samples = read_samples(layout.PREPARED_TRAIN, schema, config.data)
    return train_fold(config, layout.cv_raw(fold), samples, config.model, predict_training_set=True,
                      position=position)
