"""Stage `submit`: the competition submission from the ensemble's test predictions, validated.

Reads the ORIGINAL test file (`data.source.dir` / `data.source.test`: the prepared copy
lacks the lines the reader skipped, which the submission must still answer, with an empty
`spo_list`), the prepared schema and `predictions/ensemble/test.json`; fills the types from
the schema, validates every line against the test file and writes
`submission/<data.format>_submission.json` atomically. An invalid submission raises
`SubmissionError` naming the lines and writes nothing. So does an incomplete prediction file:
a test line may lack a prediction only if the reader skipped it (no text), and gets an empty
`spo_list`; any other missing line refuses the submission, naming the first.
"""
from __future__ import annotations

from pathlib import Path

from .. import layout, submission
from ..config import Config
from ..data import load_schema
from ..utils import log

PARAMS = ("data.format", "data.source.dir", "data.source.test")


def run(config: Config) -> str:
    """Build, validate and write the submission; returns the path written."""
    data = config.data
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    predictions = layout.ENSEMBLE_TEST
    lines, test_lines, missing = submission.submission_lines(Path(data.source.dir) / data.source.test,
                                                             submission.read_json_lines(predictions), predictions,
                                                             schema)
    path = layout.submission_path(data.format)
    submission.write(path, lines, test_lines, schema)
    log(f"submission: {len(lines)} lines ({missing} without a prediction: skipped by the reader), "
        f"{sum(len(line['spo_list']) for line in lines)} spo -> {path}")
    return str(path)
