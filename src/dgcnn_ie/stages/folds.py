"""Stage `folds`: assign each training sample to one of k CV folds, once, so every CV stage reuses the same split."""

from __future__ import annotations

import argparse
import json

from ..data import atomic_write, load_params, load_schema, make_folds, read_dataset
from ..utils import log

FOLDS_PATH = "data/folds.json"
READ_REPORT_PATH = "reports/data/train_read.json"


def main(params_path: str = "params.yaml") -> dict:
    """Read the training file, write data/folds.json and the read report; return the folds document."""
    params = load_params(params_path)
    data, seed, k = params["data"], int(params["seed"]), int(params["folds"]["k"])
    schema = load_schema(data["schema"], data["format"])
    samples, report = read_dataset(data["train"], schema, on_error=data["on_error"], normalize=data["normalize"])
    log(report.summary())
    doc = {"k": k, "seed": seed, "n": len(samples), "assignment": make_folds(len(samples), k, seed),
           "sources": [s.source for s in samples]}
    with atomic_write(FOLDS_PATH) as f:
        json.dump(doc, f, ensure_ascii=False)
        f.write("\n")
    with atomic_write(READ_REPORT_PATH) as f:
        json.dump(report.counts(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    sizes = [doc["assignment"].count(i) for i in range(k)]
    log(f"{k} folds over {len(samples)} samples, sizes {sizes} -> {FOLDS_PATH}")
    return doc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
