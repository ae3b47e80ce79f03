"""Predict triples with a saved model folder or the exported system (usable outside DVC).

    dgcnn-ie predict --model system --input test1.json --output submission.json    # the submitted system
    dgcnn-ie predict --model models/single --input dev.json --output pred.json \\
        [--format lic2019|duie2] [--schema all_50_schemas] [--metrics metrics.json] [--batch-size 64]
    echo "《鲁迅自传》由江苏文艺出版社出版" | dgcnn-ie predict --model system --input - --output -

With a system folder (`system/`, written by the ensemble stage) the output is a submission: every
line of the input answered (a line without text with an empty `spo_list`), types filled,
validated, byte for byte what the pipeline submits for the same file, with the prediction rules the
system was exported with (`rules.predictions`). With a single model's folder (no rules: a model
folder records none; the evaluate stage applies the params' rules) the output has the input's
competition format (each read line with its `spo_list`
predicted; lines that cannot be read are skipped and counted on stderr, `--strict` makes them an
error). ``--input -`` reads raw sentences, one a line, from stdin; ``--output -`` writes to
stdout. When every input line is labelled, P/R/F1 are printed (JSON on stdout) and written to
`--metrics` if given. `python -m dgcnn_ie.cli.predict` is the same as `dgcnn-ie predict`.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys

from .. import submission
from ..data import (DataError, Sample, casefold_text, load_schema, prediction_lines, read_dataset, write_json_lines,
                    write_predictions)
from ..decode import Thresholds
from ..extractor import load_extractor
from ..metrics import score, write_metrics
from ..system import System, is_system
from ..utils import Stopped, log, stop_on_signals


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="dgcnn-ie predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a system folder (system) or a saved extractor (models/single)")
    parser.add_argument("--input", required=True, help="JSON-lines file to predict, or - for sentences on stdin")
    parser.add_argument("--output", required=True, help="predictions in the competition format (- for stdout)")
    parser.add_argument("--format", choices=("lic2019", "duie2"), help="input format (default: the model's)")
    parser.add_argument("--schema", help="organiser's schema file; must have the model's predicates")
    parser.add_argument("--metrics", help="write P/R/F1 JSON here when the input is labelled")
    parser.add_argument("--batch-size", type=int, help="sentences per batch (default: the model's)")
    parser.add_argument("--word2vec", help="word vectors (vectors.kv) instead of the path recorded with the model")
    parser.add_argument("--start-threshold", type=float, help="override the saved start threshold")
    parser.add_argument("--end-threshold", type=float, help="override the saved end threshold")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable line")
    args = parser.parse_args(argv)

    system = System.load(args.model) if is_system(args.model) else None
    if system is not None:
        schema, normalize, predictor = system.schema, system.normalize, system
    else:
        predictor = load_extractor(args.model, word2vec_path=args.word2vec)
        schema, normalize = predictor.schema, predictor.normalize
    if args.format and args.format != schema.format and not args.schema:
        parser.error(f"the model was trained on {schema.format} data; give --schema for --format {args.format}")
    if args.schema:
        given = load_schema(args.schema, args.format or schema.format)
        if given.predicates != schema.predicates:
            missing = sorted(set(schema.predicates) ^ set(given.predicates))[:5]
            raise DataError(f"{args.schema}:1: predicates differ from the model's (e.g. {', '.join(missing)})")
        schema = given
    predictor.thresholds = Thresholds(
        predictor.thresholds.start if args.start_threshold is None else args.start_threshold,
        predictor.thresholds.end if args.end_threshold is None else args.end_threshold)
    if args.input == "-":
        samples = _stdin_samples(normalize)
    else:
        samples, report = read_dataset(args.input, schema, on_error="raise" if args.strict else "skip",
                                       normalize=normalize)
        log(report.summary())
    predictions = predictor.predict(samples, args.batch_size)
    if system is not None and args.input != "-":
        lines, test_lines, skipped = submission.submission_lines(
            args.input, list(prediction_lines(samples, predictions, schema)), "predictions", schema)
        submission.write(args.output, lines, test_lines, schema)
        log(f"{len(lines)} lines ({skipped} answered empty: no text), {sum(map(len, predictions))} triples "
            f"-> {args.output}")
    elif args.output == "-" or args.input == "-":
        write_json_lines(args.output, prediction_lines(samples, predictions, schema))
    else:
        write_predictions(args.output, samples, predictions, schema)
        log(f"{len(samples)} sentences, {sum(map(len, predictions))} triples -> {args.output}")
    if not samples or not all(s.labelled for s in samples):
        return None
    metrics = score([set(s.triples) for s in samples], predictions, schema.format)
    summary = {k: metrics[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")}
    print(json.dumps(summary, ensure_ascii=False))
    if args.metrics:
        write_metrics(args.metrics, metrics)
    return metrics


def _stdin_samples(normalize: str) -> list[Sample]:
    """Raw sentences, one a line (blank lines skipped)."""
    samples = []
    for number, line in enumerate(sys.stdin, 1):
        text = line.strip()
        if text:
            samples.append(Sample(text=casefold_text(text) if normalize == "lower" else text, triples=[],
                                  labelled=False, source=f"<stdin>:{number}", raw={"text": text}))
    return samples


def cli(argv: list[str] | None = None) -> int:
    """`dgcnn-ie predict`: `main` with input errors as one line and exit status 1; SIGTERM / SIGINT stop it
    cleanly (no temp file left, exit 128 + signal)."""
    try:
        with stop_on_signals():
            main(argv)
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except Stopped as e:
        print(f"error: stopped by {signal.Signals(e.signum).name}; no output written", file=sys.stderr)
        return 128 + e.signum
    return 0


if __name__ == "__main__":
    sys.exit(cli())
