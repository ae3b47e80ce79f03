"""Competition submission: each test line with its `spo_list` filled, types from the schema, validated.

The validator checks every line of a submission against the test file it answers:
same number of lines, the text unchanged, `spo_list` a list of spo dicts with
exactly the competition's keys and types, subject and object strings present in
the text, predicates (and DuIE 2.0 object slots) from the schema, types either
empty or the schema's. Errors name the submission line (1-based).
"""
from __future__ import annotations

import json
from typing import Sequence

from .data import DataError, Schema, find_spans, json_lines, read_dataset, typed_spo, write_json_lines

SPO_KEYS = frozenset({"subject", "predicate", "object", "subject_type", "object_type"})


class SubmissionError(DataError):
    """An invalid submission; ``errors`` holds every "path:line: reason", the message (one line) the first."""

    def __init__(self, path, errors: list[str]):
        self.errors = errors
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        super().__init__(f"{errors[0] if errors else path}: invalid submission{more}")


def read_test_file(path) -> list[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a test file; every line must be a JSON object
    (one without a `text` string is answered with an empty `spo_list`), else `DataError` naming the line."""
    lines = []
    for number, line in json_lines(path):
        if line is None:
            raise DataError(f"{path}:{number}: not valid UTF-8: cannot be answered in a submission")
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: malformed JSON ({e.msg}): cannot be answered in a submission") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{number}: not a JSON object: cannot be answered in a submission")
        lines.append((number, obj))
    return lines


def read_test_lines(path) -> list[dict]:
    """The objects of `read_test_file`."""
    return [obj for _, obj in read_test_file(path)]


def base_predicates(schema: Schema) -> set[str]:
    """Predicate names a submission may use (DuIE 2.0: not the flat `<p>_<slot>` names)."""
    slots = {f"{p}_{s}" for p, ss in schema.slots.items() for s in ss}
    return set(schema.predicates) - slots


def fill_types(spo: dict, schema: Schema) -> dict:
    """A copy of a (flat-object or DuIE complex) spo dict with the schema's subject/object types."""
    return typed_spo(spo["subject"], spo["predicate"], spo["object"], schema)


def align(test_lines: Sequence[dict], predicted: Sequence[dict], pred_path, *, expected: Sequence[bool] | None = None,
          where: Sequence[str] | None = None) -> tuple[list[list[dict]], int]:
    """The predicted `spo_list` of each test line, matched in order by text. A line may lack a prediction
    only where ``expected`` is False (a line the reader skipped; default: a line without a non-empty
    `text`), and gets ``[]``; a missing prediction for any other line refuses the whole file (an
    incomplete submission is never written), naming the first such line (``where[i]``, default
    "test line i+1"). Returns (spo lists, number of lines answered empty because the reader skipped them)."""
    if expected is None:
        expected = [isinstance(line.get("text"), str) and bool(line["text"].strip()) for line in test_lines]
    out, k, skipped, missing = [], 0, 0, []
    for i, line in enumerate(test_lines):
        text = line.get("text")
        if k < len(predicted) and isinstance(text, str) and isinstance(predicted[k], dict) \
                and predicted[k].get("text") == text:
            spo_list = predicted[k].get("spo_list")
            if not isinstance(spo_list, list):
                raise DataError(f"{pred_path}:{k + 1}: 'spo_list' is not a list")
            out.append(spo_list)
            k += 1
        else:
            out.append([])
            if expected[i]:
                missing.append(where[i] if where is not None else f"test line {i + 1}")
            else:
                skipped += 1
    if k < len(predicted):
        raise DataError(f"{pred_path}:{k + 1}: not a prediction for a line of the test file (wrong file, "
                        f"or out of order): {str(predicted[k])[:60]}")
    if missing:
        raise DataError(f"{pred_path}:{k + 1 if k < len(predicted) else max(len(predicted), 1)}: no prediction for "
                        f"{missing[0]} ({len(missing)} test line(s) without one): the predictions are incomplete, "
                        f"so no submission is written; re-run the stages that predict the test file")
    return out, skipped


def submission_lines(test_path, predicted: Sequence[dict], pred_source, schema: Schema) -> tuple[list[dict], list[dict], int]:
    """(submission lines, test lines, lines answered empty) for the ORIGINAL test file ``test_path`` and the
    prediction lines ``predicted`` (as `data.write_predictions` writes them, for the lines the reader keeps):
    `align` (refusing an incomplete file) then `build`. The submit stage and `dgcnn-ie predict` share it."""
    numbered = read_test_file(test_path)
    test_lines = [obj for _, obj in numbered]
    kept, _ = read_dataset(test_path, schema, on_error="skip")      # the lines the pipeline predicts
    predicted_lines = {int(s.source.rpartition(":")[2]) for s in kept}
    spo_lists, skipped = align(test_lines, predicted, pred_source, expected=[n in predicted_lines for n, _ in numbered],
                               where=[f"{test_path}:{n}" for n, _ in numbered])
    return build(test_lines, spo_lists, schema), test_lines, skipped


def build(test_lines: Sequence[dict], spo_lists: Sequence[list[dict]], schema: Schema) -> list[dict]:
    """Submission lines: each test line (all its fields) with `spo_list` replaced, types from the schema."""
    if len(test_lines) != len(spo_lists):
        raise ValueError(f"{len(test_lines)} test lines but {len(spo_lists)} spo lists")
    return [{**line, "spo_list": [fill_types(spo, schema) for spo in spos]}
            for line, spos in zip(test_lines, spo_lists)]


def _in_text(value, text: str) -> bool:
    return isinstance(value, str) and bool(value) and bool(find_spans(text, value))


def _spo_errors(spo, text: str, schema: Schema, bases: set[str]) -> list[str]:
    if not isinstance(spo, dict):
        return [f"is a {type(spo).__name__}, not a dict"]
    if set(spo) != SPO_KEYS:
        missing, extra = sorted(SPO_KEYS - set(spo)), sorted(set(spo) - SPO_KEYS)
        return [f"keys wrong (missing {missing}, unexpected {extra})"]
    errors = []
    p, s, o = spo["predicate"], spo["subject"], spo["object"]
    if not isinstance(p, str) or p not in bases:
        return [f"predicate {p!r} is not in the schema"]
    if not _in_text(s, text):
        errors.append(f"subject {s!r} is not a non-empty string of the text")
    if not isinstance(spo["subject_type"], str):
        errors.append("subject_type is not a string")
    elif spo["subject_type"] and spo["subject_type"] not in {st for st, _ in schema.all_types(p)}:
        errors.append(f"subject_type {spo['subject_type']!r} is not a type of {p!r}")
    o_type = spo["object_type"]
    if schema.format == "lic2019":
        if not _in_text(o, text):
            errors.append(f"object {o!r} is not a non-empty string of the text")
        if not isinstance(o_type, str):
            errors.append("object_type is not a string")
        elif o_type and o_type not in {ot for _, ot in schema.all_types(p)}:
            errors.append(f"object_type {o_type!r} is not a type of {p!r}")
        return errors
    if not isinstance(o, dict) or "@value" not in o:
        return errors + [f"object is not a dict with '@value': {o!r}"]
    allowed = {"@value", *schema.slots.get(p, ())}
    for slot, value in o.items():
        if slot not in allowed:
            errors.append(f"object slot {slot!r} is not a slot of {p!r}")
        elif not _in_text(value, text):
            errors.append(f"object {slot} {value!r} is not a non-empty string of the text")
    if not isinstance(o_type, dict) or set(o_type) != set(o):
        errors.append(f"object_type must be a dict with the object's keys {sorted(o)}, got {o_type!r}")
    else:
        for slot, t in o_type.items():
            if not isinstance(t, str):
                errors.append(f"object_type {slot} is not a string")
            elif t and slot in allowed and t not in {ot for _, ot in
                                                     schema.all_types(p if slot == "@value" else f"{p}_{slot}")}:
                errors.append(f"object_type {slot} {t!r} is not a type of {p!r}")
    return errors


def validate(lines: Sequence, test_lines: Sequence[dict], schema: Schema, path) -> list[str]:
    """Every problem of a submission ("path:line: reason"); empty when it is valid."""
    errors = []
    if len(lines) != len(test_lines):
        errors.append(f"{path}: {len(lines)} lines but the test file has {len(test_lines)}")
    bases = base_predicates(schema)
    for number, (line, test) in enumerate(zip(lines, test_lines), 1):
        where = f"{path}:{number}"
        if not isinstance(line, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        text = line.get("text")
        if text != test.get("text"):
            errors.append(f"{where}: text differs from the test file's line {number}")
            continue
        spo_list = line.get("spo_list")
        if not isinstance(spo_list, list):
            errors.append(f"{where}: 'spo_list' is missing or not a list")
            continue
        if not isinstance(text, str):
            if spo_list:
                errors.append(f"{where}: the line has no text, so its spo_list must be empty")
            continue
        for k, spo in enumerate(spo_list):
            errors += [f"{where}: spo_list[{k}]: {e}" for e in _spo_errors(spo, text, schema, bases)]
    return errors


def read_json_lines(path, *, strict: bool = True) -> list:
    """The lines of a JSON-lines file, parsed; an unparsable line raises (``strict``) or becomes None
    (so that a submission's bad line fails validation with its number)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                if strict:
                    raise DataError(f"{path}:{number}: malformed JSON ({e.msg})") from None
                out.append(None)
    return out


def validate_file(path, test_path, schema: Schema) -> None:
    """Raise `SubmissionError` unless the file at ``path`` is a valid submission for ``test_path``."""
    errors = validate(read_json_lines(path, strict=False), read_test_lines(test_path), schema, path)
    if errors:
        raise SubmissionError(path, errors)


def write(path, lines: Sequence[dict], test_lines: Sequence[dict], schema: Schema) -> None:
    """Validate, then write the submission atomically, or to stdout for ``-`` (nothing is written if it is
    invalid)."""
    errors = validate(lines, test_lines, schema, path)
    if errors:
        raise SubmissionError(path, errors)
    write_json_lines(path, lines)
