"""Stage `folds`: assign each training sample to one of k CV folds, once, so every CV stage reuses the same split."""

from __future__ import annotations

import json

from .. import layout
from ..config import Config
from ..data import load_schema, read_dataset
from ..files import atomic_write
from ..folds import make_folds
from ..utils import log

PARAMS = ("seed", "data.format", "data.normalize", "data.on_error", "folds")


def run(config: Config) -> dict:
    """Read the training file, write data/folds.json and the read report; return the folds document."""
    data, seed, k = config.data, config.seed, config.folds.k
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    samples, report = read_dataset(layout.PREPARED_TRAIN, schema, on_error=data.on_error, normalize=data.normalize,
                                   keep_raw=False)
    log(report.summary())
    doc = {"k": k, "seed": seed, "n": len(samples), "assignment": make_folds(len(samples), k, seed),
           "sources": [s.source for s in samples]}
    with atomic_write(layout.FOLDS) as f:
        json.dump(doc, f, ensure_ascii=False)
        f.write("\n")
    with atomic_write(layout.TRAIN_READ_REPORT) as f:
        json.dump(report.counts(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    sizes = [doc["assignment"].count(i) for i in range(k)]
    log(f"{k} folds over {len(samples)} samples, sizes {sizes} -> {layout.FOLDS}")
    return doc

