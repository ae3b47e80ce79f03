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
from ..data import load_schema, read_dataset
from ..utils import log

PARAMS = ("data.format", "data.source.dir", "data.source.test")


def run(config: Config) -> str:
    """Build, validate and write the submission; returns the path written."""
    data = config.data
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    test_path = Path(data.source.dir) / data.source.test
    numbered = submission.read_test_file(test_path)
    test_lines = [obj for _, obj in numbered]
    # the lines the pipeline predicted: those the reader keeps (it skips a line without text, and says so)
    kept, _ = read_dataset(test_path, schema, on_error="skip")
    predicted_lines = {int(s.source.rpartition(":")[2]) for s in kept}
    predictions = layout.ENSEMBLE_TEST
    spo_lists, missing = submission.align(test_lines, submission.read_json_lines(predictions), predictions,
                                          expected=[n in predicted_lines for n, _ in numbered],
                                          where=[f"{test_path}:{n}" for n, _ in numbered])
    lines = submission.build(test_lines, spo_lists, schema)
    path = layout.submission_path(data.format)
    submission.write(path, lines, test_lines, schema)
    log(f"submission: {len(lines)} lines ({missing} without a prediction: skipped by the reader), "
        f"{sum(map(len, spo_lists))} spo -> {path}")
    return str(path)
