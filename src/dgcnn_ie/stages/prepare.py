"""Stage `prepare`: validate the source files once and give every later stage fixed paths.

The source files (the embedded synthetic data, a real LIC2019 / DuIE 2.0 release,
or any file in one of those formats) are named relative to `data.source.dir`, so
DVC can track the whole folder even when there is no dev file. Without a dev
file, a seeded `data.dev_fraction` of the training lines is held out as dev. It also writes
`test_texts.txt`, the test texts for the word2vec corpus, empty unless `word2vec.include_test`.

Outputs keep the competition format, one JSON object per line, in input order:
train and dev lines the reader had to skip (malformed JSON, not UTF-8, missing or empty
text, no `spo_list`) are left out and counted in `reports/data/read.json` (each an error
under `data.on_error: raise`); a test line that is not a readable JSON object is always an
error, since the submission must answer it (one without a text is answered empty), and so is a
test file with no line to predict (empty, blank lines only, or no line with a text), and a
training file with no usable sample. A dev file with no usable sample (e.g. empty) is accepted:
`train` then holds out a seeded 10% of the training samples for model selection, and `evaluate`
reports no dev score.
Triples that could not be located stay in the line and are counted there too (every
reader downstream skips them again the same way).

The label rules switched on under `rules.labels` (kg-2019 `repair()`, `dgcnn_ie.rules.repair_labels`)
rewrite the training lines' `spo_list`s (not dev, not test); `read.json` then counts the triples
each rule changed or dropped (`label_rules`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import layout
from ..config import Config, ConfigError
from ..data import DataError, load_schema, read_dataset, write_json_lines
from ..files import atomic_write
from ..rules import LABEL_RULES, repair_labels
from ..submission import read_test_lines
from ..utils import log, seeded_holdout

PARAMS = ("seed", "data.format", "data.source", "data.dev_fraction", "data.on_error", "word2vec.include_test",
          "rules.labels")


def hold_out(samples: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev): a seeded `fraction` of the samples as dev, both in input order."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"data.dev_fraction must be in (0, 1) when data.source.dev is empty, got {fraction}")
    n_dev = max(1, round(len(samples) * fraction))
    if n_dev >= len(samples):
        raise ConfigError(f"data.dev_fraction: cannot hold out {n_dev} of {len(samples)} training samples as dev")
    chosen = seeded_holdout(len(samples), n_dev, seed)
    train = [s for i, s in enumerate(samples) if i not in chosen]
    dev = [s for i, s in enumerate(samples) if i in chosen]
    return train, dev


def run(config: Config) -> dict:
    """Read and check the source files; write data/prepared/{schema,train,dev,test}.json and the read report."""
    data = config.data
    source = data.source
    root = Path(source.dir)
    if not root.is_dir():
        raise ConfigError(f"data.source.dir: {root} is not a folder (see README: Real data)")
    schema_path = root / source.schema
    schema = load_schema(schema_path, data.format)
    read = {}

    def read_file(name: str, labelled: bool = True):
        samples, report = read_dataset(root / name, schema, on_error=data.on_error, normalize="none",
                                       require_labels=labelled)
        log(report.summary())
        read[name] = report.counts()
        return samples

    # every test line must be answered in the submission: one that cannot be read is an error now,
    # not a counted skip that `submit` would find after every model has trained
    test_lines = read_test_lines(root / source.test)
    train = read_file(source.train)
    if not train:        # before the hold-out, whose complaint about dev_fraction would mislead
        raise DataError(f"{root / source.train}:1: no usable training sample")
    if source.dev:
        dev = read_file(source.dev)
        held_out = 0
    else:
        train, dev = hold_out(train, data.dev_fraction, config.seed)
        held_out = len(dev)
        log(f"no dev file: held out {held_out} of the training samples as dev (seed {config.seed})")
    test = read_file(source.test, labelled=False)
    if not test:         # nothing to predict: every model would train for an empty submission
        why = (f"none of its {len(test_lines)} line(s) has a non-empty 'text'" if test_lines
               else "the file is empty or has only blank lines")
        raise DataError(f"{root / source.test}:1: no readable line: {why}")

    label_rules = [name for name in LABEL_RULES if getattr(config.rules.labels, name)]
    for name in label_rules:
        if LABEL_RULES[name] is not None and not any(p in schema for p in LABEL_RULES[name]):
            log(f"label rule {name}: a no-op, the schema has none of {', '.join(LABEL_RULES[name])}")
    train_lines = [s.raw for s in train]
    if label_rules:
        changed = {name: 0 for name in label_rules}
        repaired = []
        for s in train:
            line, counts = repair_labels(s.raw, s.text, label_rules, data.format)
            repaired.append(line)
            for name, n in counts.items():
                changed[name] += n
        train_lines = repaired
        log("label rules on the training file: " + ", ".join(f"{k} {v} triples" for k, v in changed.items()))
    layout.PREPARED_DIR.mkdir(parents=True, exist_ok=True)
    with atomic_write(layout.PREPARED_SCHEMA) as f, open(schema_path, encoding="utf-8") as src:
        shutil.copyfileobj(src, f)
    write_json_lines(layout.PREPARED_TRAIN, train_lines)
    for path, samples in ((layout.PREPARED_DEV, dev), (layout.PREPARED_TEST, test)):
        write_json_lines(path, (s.raw for s in samples))
    # the word2vec corpus's test part: a file of its own, so that with include_test false a new test file
    # leaves the word vectors, and every model trained on them, untouched
    with atomic_write(layout.PREPARED_TEST_TEXTS) as f:
        f.writelines(s.text.replace("\n", " ") + "\n" for s in (test if config.word2vec.include_test else []))
    summary = {"format": data.format, "predicates": len(schema), "train": len(train), "dev": len(dev),
               "test": len(test), "dev_held_out_from_train": held_out, "files": read}
    if label_rules:
        summary["label_rules"] = changed
    with atomic_write(layout.READ_REPORT) as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
        f.write("\n")
    log(f"prepared {len(train)} train / {len(dev)} dev / {len(test)} test samples -> {layout.PREPARED_DIR}")
    return summary
