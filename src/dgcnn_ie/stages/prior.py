"""DVC stage `prior`: distant-supervision candidates for every training, dev and test sentence.

The knowledge bases are built on the cleaned training labels (`data/cleaned/train.json`,
written by the clean stage; with cleaning disabled a copy of the prepared train file: the
same samples in the same order, so `data/folds.json` applies to it), one per trained fold
(`cv.folds`) plus one on the whole file. Writes:

- `features/prior/{train,dev,test}.json`: one file per split, so a new test file leaves the
  training candidates (and the cv models that read them) untouched; see `prior.build_candidates`
  for what each holds, `prior.load_candidates` to read them back;
- `reports/prior/stats.json`: candidates per sentence, gold coverage (share of
  gold triples among the candidates) and precision, per fold and split.
"""
from __future__ import annotations

import json

from .. import layout
from ..config import Config
from ..data import load_schema, read_samples
from ..files import atomic_write
from ..folds import load_folds
from ..metrics import write_metrics
from ..prior import build_candidates, candidates_file
from ..utils import log

PARAMS = ("data.format", "data.normalize", "data.on_error", "cv.folds")


def run(config: Config) -> dict:
    """Build and write the candidates; returns their statistics."""
    schema = load_schema(layout.PREPARED_SCHEMA, config.data.format)
    train, dev, test = (read_samples(path, schema, config.data, keep_raw=False)
                        for path in (layout.CLEANED_TRAIN, layout.PREPARED_DEV, layout.PREPARED_TEST))
    docs, stats = build_candidates(train, dev, test, load_folds(layout.FOLDS, train), config.cv.folds, schema, log)
    for split, doc in docs.items():
        with atomic_write(candidates_file(layout.PRIOR_DIR, split)) as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    write_metrics(layout.PRIOR_STATS, stats)
    log(f"candidates -> {layout.PRIOR_DIR}/{{train,dev,test}}.json; "
        + json.dumps({k: v for k, v in stats.items() if k != "folds"}))
    return stats
