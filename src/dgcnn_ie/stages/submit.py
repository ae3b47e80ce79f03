"""Stage `submit`: the competition submission from the ensemble's test predictions, validated.

Reads `data` from params.yaml, the ORIGINAL test file (`data.source.dir` /
`data.source.test`: the prepared copy lacks the lines the reader skipped, which
the submission must still answer, with an empty `spo_list`) and
`predictions/ensemble/test.json`; fills the types from the schema, validates
every line against the test file and writes
`submission/<data.format>_submission.json` atomically. An invalid submission
raises `SubmissionError` naming the lines and writes nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import submission
from ..data import load_params, load_schema
from ..utils import log

PREDICTIONS_PATH = "predictions/ensemble/test.json"


def submission_path(fmt: str) -> str:
    return f"submission/{fmt}_submission.json"


def main(params_path: str = "params.yaml") -> str:
    """Run the stage; returns the path written."""
    params = load_params(params_path)
    data = params["data"]
    schema = load_schema(data["schema"], data["format"])
    test_lines = submission.read_test_lines(Path(data["source"]["dir"]) / data["source"]["test"])
    spo_lists, missing = submission.align(test_lines, submission.read_json_lines(PREDICTIONS_PATH),
                                          PREDICTIONS_PATH)
    lines = submission.build(test_lines, spo_lists, schema)
    path = submission_path(data["format"])
    submission.write(path, lines, test_lines, schema)
    log(f"submission: {len(lines)} lines ({missing} without a prediction: skipped by the reader), "
        f"{sum(map(len, spo_lists))} spo -> {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
