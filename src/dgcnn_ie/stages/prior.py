"""DVC stage `prior`: distant-supervision candidates for every training, dev and test sentence.

Reads `prior.train` (default `data/cleaned/train.json`, written by the clean
stage; when cleaning is disabled it is a copy of the raw train file, same
samples in the same order, so `data/folds.json` applies to it), `data.dev`,
`data.test` and the fold assignment. Writes:

- `features/prior/candidates.json`, one JSON object::

    {"version": 1, "predicates": [...],
     "sources": {"train": [...], "dev": [...], "test": [...]},
     "train": {"full": [C_0, C_1, ...], "folds": {"0": [C_0, ...], ...}},
     "dev": [C_0, ...], "test": [C_0, ...]}

  where each C_i is the candidate list of sample i (file order), one candidate
  ``[s_start, s_end, p_index, o_start, o_end]`` (end-inclusive).
  `train.folds[f]`: KB of the samples outside fold f; training-fold samples
  with self-exclusion, fold-f samples (held out) without (they are not in the KB).
  `train.full`: KB of all training samples, with self-exclusion.
  `dev`, `test`: KB of all training samples.
- `reports/prior/stats.json`: candidates per sentence, gold coverage (share of
  gold triples among the candidates) and precision, per fold and split.

Use `load_candidates(path, split, fold)` to read the candidates back.
"""
from __future__ import annotations

import argparse
import json

from ..data import Sample, Schema, atomic_write, load_folds, load_params, load_schema, read_samples, split
from ..metrics import write_metrics
from ..prior import Candidate, KnowledgeBase
from ..utils import log

FOLDS_PATH = "data/folds.json"
OUT_PATH = "features/prior/candidates.json"
STATS_PATH = "reports/prior/stats.json"
DEFAULT_TRAIN = "data/cleaned/train.json"
VERSION = 1


def _encode(cands: list[Candidate]) -> list[list[int]]:
    return [[s[0], s[1], p, o[0], o[1]] for s, p, o in cands]


def _decode(rows: list[list[int]]) -> list[Candidate]:
    return [((a, b), p, (c, d)) for a, b, p, c, d in rows]


def load_candidates(path, split_name: str, fold: int | None = None, *,
                    samples: list[Sample] | None = None, schema: Schema | None = None) -> list[list[Candidate]]:
    """Candidates per sample of `split_name` ("train", "dev", "test"); for "train", `fold` picks a
    CV fold's KB and None the full-training KB. Given `samples` / `schema`, checks they are the ones
    the file was made for (same sources in the same order, same predicate order)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: candidates file version {doc.get('version')!r}, expected {VERSION}")
    if schema is not None and list(schema.predicates) != doc["predicates"]:
        raise ValueError(f"{path}: made for another predicate order; re-run the prior stage")
    if samples is not None and [s.source for s in samples] != doc["sources"][split_name]:
        raise ValueError(f"{path}: {split_name} candidates were made for other samples "
                         f"({len(doc['sources'][split_name])} listed, {len(samples)} given)")
    if split_name == "train":
        key = "full" if fold is None else str(fold)
        table = doc["train"]["full"] if fold is None else doc["train"]["folds"].get(key)
        if table is None:
            raise KeyError(f"{path}: no candidates for fold {fold} (folds {sorted(doc['train']['folds'])})")
    elif fold is not None:
        raise ValueError("fold only applies to the train split")
    else:
        table = doc[split_name]
    return [_decode(rows) for rows in table]


def _stats(samples: list[Sample], cands: list[list[Candidate]], schema: Schema) -> dict:
    """Candidates per sentence; with gold labels, coverage (recall) and precision of the candidate triples."""
    n_cands = n_gold = n_hit = n_string_cands = 0
    for sample, cs in zip(samples, cands):
        n_cands += len(cs)
        found = {(sample.text[s[0]:s[1] + 1], p, sample.text[o[0]:o[1] + 1]) for s, p, o in cs}
        gold = {(t.subject, schema.index(t.predicate), t.object) for t in sample.triples}
        n_string_cands += len(found)
        n_gold += len(gold)
        n_hit += len(gold & found)
    out = {"sentences": len(samples),
           "candidates_per_sentence": n_cands / max(len(samples), 1),
           "with_candidates": sum(1 for c in cands if c) / max(len(samples), 1)}
    if any(s.labelled for s in samples):
        out.update(gold_triples=n_gold, gold_coverage=n_hit / max(n_gold, 1),
                   candidate_precision=n_hit / max(n_string_cands, 1))
    return out


def main(params_path: str = "params.yaml") -> dict:
    params = load_params(params_path)
    data = params["data"]
    train_path = (params.get("prior") or {}).get("train", DEFAULT_TRAIN)
    schema = load_schema(data["schema"], data["format"])

    def read(path):
        return read_samples(path, schema, data) if path else []

    train, dev, test = read(train_path), read(data.get("dev")), read(data["test"])
    assignment = load_folds(FOLDS_PATH)

    doc = {"version": VERSION, "predicates": list(schema.predicates),
           "sources": {"train": [s.source for s in train], "dev": [s.source for s in dev],
                       "test": [s.source for s in test]},
           "train": {"full": [], "folds": {}}, "dev": [], "test": []}
    stats: dict = {"folds": {}}
    for fold in params["cv"]["folds"]:
        kb_samples, held = split(train, assignment, fold)
        kb = KnowledgeBase.build(kb_samples, schema)
        cands = [kb.candidates(s.text, exclude=s) for s in train]
        doc["train"]["folds"][str(fold)] = [_encode(c) for c in cands]
        in_fold = [a == fold for a in assignment]
        stats["folds"][str(fold)] = {
            "kb_triples": len(kb),
            "train": _stats([s for s, h in zip(train, in_fold) if not h],
                            [c for c, h in zip(cands, in_fold) if not h], schema),
            "heldout": _stats(held, [c for c, h in zip(cands, in_fold) if h], schema)}
        log(f"fold {fold}: {stats['folds'][str(fold)]}")

    kb = KnowledgeBase.build(train, schema)
    stats["kb_triples"] = len(kb)
    for name, samples, exclude in (("train", train, True), ("dev", dev, False), ("test", test, False)):
        cands = [kb.candidates(s.text, exclude=s if exclude else None) for s in samples]
        encoded = [_encode(c) for c in cands]
        if name == "train":
            doc["train"]["full"] = encoded
        else:
            doc[name] = encoded
        stats[name] = _stats(samples, cands, schema)

    with atomic_write(OUT_PATH) as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    write_metrics(STATS_PATH, stats)
    log(f"candidates -> {OUT_PATH}; " + json.dumps({k: v for k, v in stats.items() if k != "folds"}))
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
