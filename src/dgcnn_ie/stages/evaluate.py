"""DVC stage `evaluate`: the single model (`models/single`) on the dev and test files.

Decodes at `decode` (thresholds, batch size), then applies the prediction rules of `rules.predictions`.
Writes:

- `reports/evaluate/metrics.json` (DVC metrics): dev precision / recall / F1
  (`{"dev_labelled": false}` when the dev file is empty or unlabelled);
- `reports/evaluate/per_predicate.json` (DVC plot data): dev P/R/F1 and support per predicate
  (an empty list without a labelled dev file);
- `predictions/test.json`: the test file in its competition format with `spo_list` predicted.
"""
from __future__ import annotations

from .. import layout
from ..config import Config
from ..data import DataError, load_schema, read_samples, write_predictions
from ..decode import Thresholds
from ..extractor import load_extractor
from ..metrics import headline, per_predicate_rows, score, write_metrics
from ..rules import RuleSet
from ..utils import log

PARAMS = ("data.format", "data.normalize", "data.on_error", "decode", "rules.predictions")


def run(config: Config) -> dict:
    """Score the single model on dev, predict test; returns the metrics written."""
    data = config.data
    extractor = load_extractor(layout.SINGLE_MODEL_DIR, word2vec_path=layout.WORD2VEC_DIR)
    extractor.thresholds = Thresholds.from_config(config.decode)
    batch_size = config.decode.batch_size
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    extractor.rules = RuleSet.from_config(config.rules.predictions, schema)
    log(f"prediction rules: {extractor.rules.describe()}")
    if schema != extractor.schema:
        raise DataError(f"{layout.PREPARED_SCHEMA}:1: {layout.SINGLE_MODEL_DIR} was trained with another schema; "
                        f"re-run the train stage")
    metrics: dict = {"dev_labelled": False}
    per_predicate: list = []
    dev = read_samples(layout.PREPARED_DEV, schema, data)
    if dev and all(s.labelled for s in dev):
        scores = score([set(s.triples) for s in dev], extractor.predict(dev, batch_size), schema.format)
        metrics = {"dev_labelled": True, **headline(scores)}
        per_predicate = per_predicate_rows(scores)
        log(f"dev ({len(dev)} sentences): P {metrics['precision']:.4f} R {metrics['recall']:.4f} "
            f"F1 {metrics['f1']:.4f}")
    write_metrics(layout.EVALUATE_METRICS, metrics)
    write_metrics(layout.EVALUATE_PER_PREDICATE, per_predicate)
    test = read_samples(layout.PREPARED_TEST, schema, data)
    write_predictions(layout.SINGLE_TEST_PREDICTIONS, test, extractor.predict(test, batch_size), schema)
    log(f"test: {len(test)} sentences -> {layout.SINGLE_TEST_PREDICTIONS}")
    return metrics
