"""Predict triples with a saved model folder or the exported system (usable outside DVC).

    dgcnn-ie predict --model system --input test1.json --output submission.json    # the submitted system
    dgcnn-ie predict --model models/single --word2vec models/word2vec --input dev.json --output pred.json \\
        [--format lic2019|duie2] [--schema all_50_schemas] [--metrics metrics.json] [--batch-size 64]
    echo "《鲁迅自传》由江苏文艺出版社出版" | dgcnn-ie predict --model system --input - --output -

With a system folder (`system/`, written by the ensemble stage) the output is a submission: every
line of the input answered (a line without text with an empty `spo_list`), types filled,
validated, byte for byte what the pipeline submits for the same file, with the prediction rules the
system was exported with (`rules.predictions`). With a single model's folder (no rules: a model
folder records none; the evaluate stage applies the params' rules) the output has the input's
competition format (each read line with its `spo_list`
predicted; lines that cannot be read are skipped and counted on stderr, `--strict` makes them an
error). ``--output -`` writes to stdout. When every input line is labelled, P/R/F1 are printed (JSON
on stdout) and written to `--metrics` if given. `python -m dgcnn_ie.cli.predict` is the same as
`dgcnn-ie predict`.

Standard input (``--input -``), one line at a time, UTF-8 (a BOM at the start of a line is dropped,
blank lines are skipped): a line that is a JSON object with a "text" string is read as a JSON line,
as in a file: its text is predicted and its output line is that object with "spo_list" set to the
prediction (its other fields kept; labels given this way are not scored: give a file for that; a
blank "text" skips the line). Any other line is the raw text to predict, output as
{"text": ..., "spo_list": [...]}; lines that are JSON objects without a "text" string are counted on
stderr, as they are most likely meant as JSON lines.

Checked before TensorFlow or a model is loaded, so a mistake costs no start-up: the input (and
`--schema`) exist; every input line can be decoded and written back as UTF-8 (a stdin line of
undecodable bytes, or a lone surrogate escape such as "\\ud800" in a JSON line, is refused naming its
line, before anything is predicted or written); for a system, every line of the input file can be
answered; the model folder holds system.json or config.json; an output is not a folder, its folder
can be made, and it is not the input (nor `--schema`, nor the other output), also when named
through another path, a symlink or a hard link.

Exit status: 0 done; 2 an expected error: one line ``error: <file:line or path>: <reason>`` on stderr
and no output written (a bad argument, input line or model file, an OS failure such as a read-only
target or a full disk); 128 + signal when SIGINT or SIGTERM stopped it (no output written).
TensorFlow's C++ log lines are off: ``TF_CPP_MIN_LOG_LEVEL=0 dgcnn-ie predict ...`` shows them.
"""
from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import re
import signal
import sys
from pathlib import Path

# TensorFlow and the model loaders (`..extractor`, `..system`) are imported in `_load`, after the checks:
# none of these modules imports them (tests/test_cli_faults.py checks it)
from .. import submission
from ..data import (DataError, Sample, casefold_text, json_lines, load_schema, prediction_lines, read_dataset,
                    write_json_lines)
from ..decode import Thresholds
from ..metrics import score, write_metrics
from ..utils import (OneLineParser, Stopped, error_exit, log, os_error_message, quiet_native_logs, quiet_tensorflow,
                     stop_on_signals)

# what `system.SYSTEM_FILE` and `extractor.CONFIG_FILE` name (not imported from there: see above)
SYSTEM_FILE, CONFIG_FILE = "system.json", "config.json"
MODEL_FILES = (SYSTEM_FILE, CONFIG_FILE)
STDIN = "<stdin>"
# a JSON escape of a UTF-16 surrogate: only a line holding one can decode to a string UTF-8 cannot write
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _probability(text: str) -> float:
    """A threshold: finite and strictly between 0 and 1 (``nan`` would silently predict nothing)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="dgcnn-ie predict", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a system folder (system) or a saved extractor (models/single)")
    p.add_argument("--input", required=True, help="JSON-lines file to predict, or - for stdin (see above)")
    p.add_argument("--output", required=True, help="predictions in the competition format (- for stdout)")
    p.add_argument("--format", choices=("lic2019", "duie2"), help="input format (default: the model's)")
    p.add_argument("--schema", help="organiser's schema file; must have the model's predicates")
    p.add_argument("--metrics", help="write P/R/F1 JSON here when the input is labelled")
    p.add_argument("--batch-size", type=_positive_int, help="sentences per batch (default: the model's)")
    p.add_argument("--word2vec", help="the word vectors folder a single model was trained with (models/word2vec); "
                                     "a system folder carries its own")
    p.add_argument("--start-threshold", type=_probability, help="override the saved start threshold, in (0, 1)")
    p.add_argument("--end-threshold", type=_probability, help="override the saved end threshold, in (0, 1)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable line")
    return p


def main(argv: list[str] | None = None) -> dict | None:
    """Parse the arguments and `run`; returns the metrics when the input is labelled."""
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> dict | None:
    """Check the arguments and read the input, then load the model (TensorFlow), predict and write."""
    records = check_inputs(args)
    predictor, schema, normalize, system = _load(args)
    schema = _given_schema(args, schema)
    predictor.thresholds = Thresholds(
        predictor.thresholds.start if args.start_threshold is None else args.start_threshold,
        predictor.thresholds.end if args.end_threshold is None else args.end_threshold)
    if records is not None:
        samples = stdin_samples(records, normalize)
    else:
        samples, report = read_dataset(args.input, schema, on_error="raise" if args.strict else "skip",
                                       normalize=normalize)
        log(report.summary())
    predictions = predictor.predict(samples, args.batch_size)
    write_output(args, system is not None, samples, predictions, schema)
    return _scored(args, samples, predictions, schema)


def write_output(args: argparse.Namespace, from_system: bool, samples, predictions, schema) -> None:
    """Write the output (a system's for a file: the validated submission answering every line), and log what
    it holds: the triples counted in the lines written, not in the predictions (DuIE slots assembled into one
    spo, case variants merged by `data.restore_case`, make those more)."""
    lines = list(prediction_lines(samples, predictions, schema))
    if from_system and args.input != "-":
        lines, test_lines, skipped = submission.submission_lines(args.input, lines, "predictions", schema)
        submission.write(args.output, lines, test_lines, schema)
        answered = f" ({skipped} answered empty: no text)"
    else:
        write_json_lines(args.output, lines)
        answered = ""
    log(f"{len(lines)} lines{answered}, {sum(len(line['spo_list']) for line in lines)} triples -> {args.output}")


def _scored(args: argparse.Namespace, samples, predictions, schema) -> dict | None:
    """P/R/F1 (printed, and written to ``--metrics``) when every input line is labelled, else None."""
    if not samples or not all(s.labelled for s in samples):
        return None
    metrics = score([set(s.triples) for s in samples], predictions, schema.format)
    summary = {k: metrics[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")}
    print(json.dumps(summary, ensure_ascii=False))
    if args.metrics:
        write_metrics(args.metrics, metrics)
    return metrics


# ------------------------------------------------------------------------------ checks before loading a model
def check_inputs(args: argparse.Namespace) -> list[tuple[str, dict]] | None:
    """Every check that needs no model, done before TensorFlow loads; returns the stdin lines (`read_stdin`,
    read now: a bad line is refused before anything is predicted), or None for a file input."""
    check_paths(args)
    if args.input == "-":
        return read_stdin(sys.stdin.buffer)
    check_input_file(args.input, args.model)
    return None


def check_paths(args: argparse.Namespace) -> None:
    """Refuse now what would fail only after TensorFlow and the model loaded (seconds to minutes): a missing
    input or model folder, ``--word2vec`` with a system (which carries its own), an output that is a folder,
    a symlink, sits under a file, lies in the model folder or is one of the inputs (writing it would destroy
    what the run reads)."""
    model = Path(args.model)
    if not model.is_dir():
        raise DataError(f"{model}: no such model folder (--model)")
    if not any((model / name).is_file() for name in MODEL_FILES):
        raise DataError(f"{model}: holds neither {' nor '.join(MODEL_FILES)}: not a system folder or a saved "
                        f"extractor (--model)")
    if args.word2vec and (model / SYSTEM_FILE).is_file():
        raise DataError(f"{args.word2vec}: a system folder carries its own word vectors; --word2vec is for a "
                        f"single model's folder")
    if args.metrics == "-":
        raise DataError("-: --metrics takes a file (the P/R/F1 summary is printed on stdout already)")
    inputs = [(option, Path(path)) for option, path in (("--input", args.input), ("--schema", args.schema))
              if path not in (None, "-")]
    for option, path in inputs:
        if not path.is_file():           # read more than once (checked, then read): a pipe will not do
            what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
            raise DataError(f"{path}: {what} ({option}: a file, or - for stdin)")
    outputs = [(option, Path(path)) for option, path in (("--output", args.output), ("--metrics", args.metrics))
               if path not in (None, "-")]
    for k, (option, path) in enumerate(outputs):
        for other, source in inputs + outputs[:k]:
            if _same_file(path, source):
                raise DataError(f"{path}: is the same file as {other} {source}; give another {option}")
        if _resolved(path) == _resolved(model) or _resolved(model) in _resolved(path).parents:
            raise DataError(f"{path}: lies in the model folder {model}; give another {option}")
        _check_target(option, path)


def _check_target(option: str, path: Path) -> None:
    """An output path can be written: not a folder, and its nearest existing ancestor is a folder."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file path ({option})")
    if path.is_symlink():       # an atomic write would replace the link itself (and /dev/stdout would not be it)
        raise DataError(f"{path}: is a symlink; give the file it leads to, or - for stdout ({option})")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{parent}: not a folder, so {path} cannot be written ({option})")
            return


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once resolved (``x/../in.json``, a symlink), or,
    both existing, the same inode (a hard link)."""
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(path: Path) -> Path:
    """``path`` with symlinks resolved; a symlink loop is an error naming it (Python 3.11 raises RuntimeError)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:
        raise DataError(f"{path}: cannot be resolved ({' '.join(str(e).split())})") from None


def check_input_file(path, model) -> None:
    """Refuse, before predicting, an input line that could not be written back: a lone surrogate escape
    (``"\\ud800"``) decodes to a string UTF-8 cannot encode. For a system, whose output answers every line,
    also any line that cannot be answered (`submission.read_test_file`: not UTF-8, not a JSON object)."""
    if (Path(model) / SYSTEM_FILE).is_file():
        submission.read_test_file(path)
    with open(path, "rb") as f:
        suspects = {number for number, raw in enumerate(f, 1) if _SURROGATE_ESCAPE.search(raw)}
    if suspects:
        for number, line in json_lines(path):
            if number in suspects and line:
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    continue                        # not JSON: the reader skips or refuses it, by its own rule
                _check_encodable(f"{path}:{number}", obj)


def _check_encodable(where: str, obj) -> None:
    """Refuse a line whose output could not be written as UTF-8 (it would fail after predicting)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        surrogate = e.object[e.start:e.end].encode("unicode_escape").decode("ascii")
        raise DataError(f"{where}: holds a lone surrogate ({surrogate}) that cannot be written as UTF-8; "
                        f"nothing predicted") from None


# ------------------------------------------------------------------------------------------------ stdin
def read_stdin(stream) -> list[tuple[str, dict]]:
    """(source, line object) of each line to predict, all read and decoded before anything is predicted: a
    line that is not UTF-8 is refused naming it (decoding the stream as text would fail mid-way, after
    predicting, naming no line)."""
    records, without_text = [], 0
    for number, raw in enumerate(stream, 1):
        where = f"{STDIN}:{number}"
        if raw.startswith(codecs.BOM_UTF8):            # also mid-stream: concatenated files each have one
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise DataError(f"{where}: not valid UTF-8 (byte {e.start + 1}: {e.reason}); nothing predicted") from None
        obj, no_text = _stdin_line(line)
        without_text += no_text
        if obj["text"].strip():
            _check_encodable(where, obj)
            records.append((where, obj))
    if without_text:
        log(f"{STDIN}: {without_text} line(s) are JSON objects without a 'text' string: predicted as raw text")
    return records


def _stdin_line(line: str) -> tuple[dict, bool]:
    """(the line's object, whether it is a JSON object without a "text" string), by the rule of the module
    docstring: a JSON object with a "text" string is itself, anything else is ``{"text": line}``."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return {"text": line}, False
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return obj, False
    return {"text": line}, isinstance(obj, dict)


def stdin_samples(records: list[tuple[str, dict]], normalize: str) -> list[Sample]:
    """Unlabelled samples of `read_stdin`'s records (labels in a JSON line are not scored)."""
    return [Sample(text=casefold_text(obj["text"]) if normalize == "lower" else obj["text"], triples=[],
                   labelled=False, source=where, raw=obj) for where, obj in records]


# ------------------------------------------------------------------------------------------- the model
def _load(args: argparse.Namespace):
    """(predictor, schema, normalize, the system or None). The model modules import TensorFlow: imported
    here, after every check, so a bad argument or `--help` never waits for it."""
    with quiet_native_logs():
        from ..extractor import load_extractor
        from ..system import System, is_system
    if is_system(args.model):
        system = System.load(args.model)
        return system, system.schema, system.normalize, system
    predictor = load_extractor(args.model, word2vec_path=args.word2vec)
    return predictor, predictor.schema, predictor.normalize, None


def _given_schema(args: argparse.Namespace, schema):
    """The model's schema, or `--schema` (the organiser's file, for its types) when it has the same predicates."""
    if args.format and args.format != schema.format and not args.schema:
        raise DataError(f"--format {args.format}: the model was trained on {schema.format} data; give --schema "
                        f"for --format {args.format}")
    if not args.schema:
        return schema
    given = load_schema(args.schema, args.format or schema.format)
    if given.predicates != schema.predicates:
        missing = sorted(set(schema.predicates) ^ set(given.predicates))[:5]
        raise DataError(f"{args.schema}:1: predicates differ from the model's (e.g. {', '.join(missing)})")
    return given


def cli(argv: list[str] | None = None) -> int:
    """`dgcnn-ie predict`: `main` with every expected error as one line and exit status 2 (data, model-file
    and OS errors: a write fails whole, leaving no temp file); SIGTERM / SIGINT stop it cleanly (no temp file
    left, exit 128 + signal)."""
    quiet_tensorflow()                  # before `_load` imports TensorFlow; the user's value wins
    args = parser().parse_args(argv)
    try:
        with stop_on_signals():
            run(args)
    except ValueError as e:             # DataError, and the loaders' and readers' ValueErrors
        return error_exit(str(e))
    except OSError as e:                # a write on an open file (a full disk) names no file: the output
        return error_exit(os_error_message(e, "<stdout>" if args.output == "-" else args.output))
    except Stopped as e:
        error_exit(f"stopped by {signal.Signals(e.signum).name}; no output written")
        return 128 + e.signum
    return 0


if __name__ == "__main__":
    sys.exit(cli())
