"""Stage `clean`: self-distillation label cleaning by the votes of the `cv_raw` fold models (method §7).

Reads `data`, `cv.folds` and `clean` from params.yaml, the raw training file and
each fold model's predictions of the whole training set
(`predictions/cv_raw/fold<f>/train.json`). Writes `data/cleaned/train.json` (the
raw file line for line, changed `spo_list`s rebuilt; with `clean.enabled: false`
an exact copy), `reports/clean/report.json` and `reports/clean/summary.md`.
"""
from __future__ import annotations

import argparse

from .. import cleaning
from ..data import atomic_write, load_params, load_schema, read_samples
from ..ensemble import predictions_dir, read_predictions
from ..metrics import write_metrics
from ..utils import log

CLEANED_PATH = "data/cleaned/train.json"
REPORT_PATH = "reports/clean/report.json"
SUMMARY_PATH = "reports/clean/summary.md"


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage; returns the report written."""
    params = load_params(params_path)
    data, cfg, folds = params["data"], params["clean"], list(params["cv"]["folds"])
    schema = load_schema(data["schema"], data["format"])
    samples = read_samples(data["train"], schema, data)
    gold = [set(s.triples) if s.labelled else None for s in samples]
    add_min, remove_max = cfg["add_min_votes"], cfg["remove_max_votes"]
    if cfg["enabled"]:
        predictions = [read_predictions(predictions_dir("raw", "plain", f) / "train.json", samples, schema,
                                        data["normalize"])
                       for f in folds]
        changes = cleaning.vote(gold, predictions, add_min, remove_max)
        labels = [cleaning.apply(g, c, schema.format) if c else None for g, c in zip(gold, changes)]
    else:
        changes = [cleaning.Change() if g is not None else None for g in gold]
        labels = gold
    cleaning.write_cleaned(CLEANED_PATH, data["train"], samples, labels, changes, schema)
    report = cleaning.report(samples, changes, n_models=len(folds), add_min_votes=add_min,
                             remove_max_votes=remove_max, enabled=bool(cfg["enabled"]))
    write_metrics(REPORT_PATH, report)
    with atomic_write(SUMMARY_PATH) as f:
        f.write(cleaning.summary_markdown(report))
    for warning in report["warnings"]:
        log(f"WARNING: {warning}")
    log(f"clean: +{report['added']} / -{report['removed']} triples in {report['sentences_changed']} sentences "
        f"({len(folds)} models) -> {CLEANED_PATH}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
