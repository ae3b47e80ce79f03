"""DVC stage `evaluate`: the single model (`models/single`) on the dev and test files.

Reads `data` and `decode` (thresholds, batch size) from params.yaml. Writes:

- `reports/evaluate/metrics.json`: dev precision / recall / F1 with a
  per-predicate breakdown (`{"dev_labelled": false}` when `data.dev` is "" or unlabelled);
- `predictions/test.json`: `data.test` in its competition format with `spo_list` predicted.
"""
from __future__ import annotations

import argparse

from ..data import DataError, load_params, load_schema, read_samples, write_predictions
from ..decode import Thresholds
from ..extractor import load_extractor
from ..metrics import score, write_metrics
from ..utils import log

MODEL_DIR = "models/single"
METRICS_PATH = "reports/evaluate/metrics.json"
PREDICTIONS_PATH = "predictions/test.json"


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage with the parameters at ``params_path``; returns the metrics written."""
    params = load_params(params_path)
    data, cfg_decode = params["data"], params["decode"]
    extractor = load_extractor(MODEL_DIR)
    extractor.thresholds = Thresholds.from_params(cfg_decode)
    batch_size = int(cfg_decode["batch_size"])
    schema = load_schema(data["schema"], data["format"])
    if schema != extractor.schema:
        raise DataError(f"{data['schema']}:1: {MODEL_DIR} was trained with another schema; re-run the train stage")
    metrics: dict = {"dev_labelled": False}
    dev = read_samples(data["dev"], schema, data) if data.get("dev") else []
    if dev and all(s.labelled for s in dev):
        pred = extractor.predict(dev, batch_size)
        metrics = {"dev_labelled": True, "dev_samples": len(dev),
                   **score([set(s.triples) for s in dev], pred, schema.format)}
        log(f"dev: P {metrics['precision']:.4f} R {metrics['recall']:.4f} F1 {metrics['f1']:.4f}")
    write_metrics(METRICS_PATH, metrics)
    test = read_samples(data["test"], schema, data)
    write_predictions(PREDICTIONS_PATH, test, extractor.predict(test, batch_size), schema)
    log(f"test: {len(test)} sentences -> {PREDICTIONS_PATH}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
