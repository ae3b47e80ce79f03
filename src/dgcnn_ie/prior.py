"""Distant-supervision prior features (method.md section 6).

A knowledge base (KB) of training triples is matched against a text with an
Aho-Corasick automaton; every KB triple whose subject and object both occur in
the text is a *candidate* ``(s_span, p_index, o_span)`` (spans end-inclusive,
``p_index`` into ``Schema.predicates``). Candidates become 0/1 features:

- ``subject_prior(cands, L)``: ``float32[L, 2]``, channel 0 = candidate subject
  start, channel 1 = candidate subject end.
- ``object_prior(cands, s_span, L, C)``: ``float32[L, 2C]`` for the candidates
  whose subject span equals ``s_span``: ``[:, :C]`` object starts per predicate,
  ``[:, C:]`` object ends per predicate (``[:, p]`` and ``[:, C + p]``).

A training sentence must not see its own triples: with ``exclude`` /
``exclude_ids`` a candidate is kept only if another training sentence supports
it. Sentences with the same text as an excluded one count as the same sentence.
Sample ids are ``Sample.source``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import json
from pathlib import Path

import numpy as np

from .data import DataError, Sample, Schema
from .folds import split

Span = tuple[int, int]
Candidate = tuple[Span, int, Span]


NO_SAMPLE_IDS = frozenset({"kb"})     # the support of a test-time KB's triple: no training sample to exclude


class KnowledgeBase:
    """Training triples indexed for matching: (subject, object) -> {p_index: sample ids}."""

    def __init__(self, support: dict[tuple[str, str], dict[int, frozenset[str]]],
                 texts: dict[str, str]):
        self.support = support
        self._texts = texts                      # sample id -> text
        self._ids_by_text: dict[str, set[str]] = defaultdict(set)
        for sid, text in texts.items():
            self._ids_by_text[text].add(sid)
        self._objects_of: dict[str, list[str]] = defaultdict(list)
        for s, o in sorted(support):
            self._objects_of[s].append(o)
        import ahocorasick             # here: code that never builds a knowledge base does not need it
        self._automaton = ahocorasick.Automaton()
        for word in sorted({w for pair in support for w in pair}):
            self._automaton.add_word(word, word)
        if support:
            self._automaton.make_automaton()

    @classmethod
    def build(cls, samples: Iterable[Sample], schema: Schema) -> KnowledgeBase:
        """KB of the samples' triples; each triple remembers the ids of the samples stating it."""
        support: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        texts: dict[str, str] = {}
        for sample in samples:
            if sample.source in texts:
                raise ValueError(f"duplicate sample id {sample.source!r}")
            texts[sample.source] = sample.text
            for t in sample.triples:
                support[(t.subject, t.object)][schema.index(t.predicate)].add(sample.source)
        frozen = {pair: {p: frozenset(ids) for p, ids in preds.items()}
                  for pair, preds in support.items()}
        return cls(frozen, texts)

    def compact(self) -> KnowledgeBase:
        """The same triples for texts that are no training sample (dev, test): the sample ids and texts
        (needed only to exclude a training sample's own triples) are dropped, so that the eight fold KBs of
        `prior.test_kb: fold` at competition size cost what their triples cost."""
        return KnowledgeBase({pair: dict.fromkeys(preds, NO_SAMPLE_IDS) for pair, preds in self.support.items()}, {})

    def __len__(self) -> int:
        """Number of distinct (subject, predicate, object) triples."""
        return sum(len(preds) for preds in self.support.values())

    def _excluded(self, exclude: Sample | str | None, exclude_ids: Iterable[str]) -> set[str]:
        ids = set(exclude_ids)
        if exclude is not None:
            ids.add(exclude.source if isinstance(exclude, Sample) else exclude)
        same_text = {sid for i in ids if i in self._texts for sid in self._ids_by_text[self._texts[i]]}
        return ids | same_text

    def occurrences(self, text: str) -> dict[str, list[Span]]:
        """Every KB string found in ``text`` -> all its spans, overlapping and nested included."""
        found: dict[str, list[Span]] = defaultdict(list)
        if self.support:
            for end, word in self._automaton.iter(text):
                found[word].append((end - len(word) + 1, end))
        return found

    def candidates(self, text: str, exclude: Sample | str | None = None,
                   exclude_ids: Iterable[str] = ()) -> list[Candidate]:
        """Sorted candidates ``(s_span, p_index, o_span)`` of ``text``.

        ``exclude`` (a training Sample or its id) and ``exclude_ids`` (e.g. the
        sample an augmented text came from) drop the support of those sentences:
        a triple stays only if some other training sentence states it.
        """
        excluded = self._excluded(exclude, exclude_ids)
        found = self.occurrences(text)
        out: set[Candidate] = set()
        for s in found:
            for o in self._objects_of.get(s, ()):
                if o not in found:
                    continue
                preds = [p for p, ids in self.support[(s, o)].items() if ids - excluded]
                out.update((ss, p, os_) for ss in found[s] for os_ in found[o] for p in preds)
        return sorted(out)


def subject_prior(cands: Iterable[Candidate], length: int) -> np.ndarray:
    """``float32[L, 2]``: candidate subject starts (channel 0) and ends (channel 1); positions >= L ignored."""
    out = np.zeros((length, 2), dtype=np.float32)
    for (start, end), _, _ in cands:
        if start < length:
            out[start, 0] = 1.0
        if end < length:
            out[end, 1] = 1.0
    return out


def object_prior(cands: Iterable[Candidate], s_span: Span, length: int,
                 num_predicates: int) -> np.ndarray:
    """``float32[L, 2C]`` for candidates with subject ``s_span``: ``[:, p]`` object start, ``[:, C + p]`` end."""
    out = np.zeros((length, 2 * num_predicates), dtype=np.float32)
    s_span = (int(s_span[0]), int(s_span[1]))
    for cs, p, (start, end) in cands:
        if tuple(cs) != s_span:
            continue
        if start < length:
            out[start, p] = 1.0
        if end < length:
            out[end, num_predicates + p] = 1.0
    return out


# ------------------------------------------------------------------------------ the candidates file
# The prior stage writes one JSON file per split into its folder, so that a stage reading only the
# training candidates (cv) is not invalidated by a new test file::
#
#     train.json  {"version": 2, "predicates": [...], "sources": [...],
#                  "full": [C_0, C_1, ...], "folds": {"0": [C_0, ...], ...}}
#     dev.json    {"version": 2, "predicates": [...], "sources": [...], "candidates": [C_0, ...]}
#     test.json   (as dev.json)
#
# where each C_i is the candidate list of sample i (file order), one candidate
# ``[s_start, s_end, p_index, o_start, o_end]`` (end-inclusive); see `build_candidates`.
CANDIDATES_VERSION = 2
SPLITS = ("train", "dev", "test")


def candidates_file(folder, split_name: str) -> Path:
    """The candidates file of one split in the prior stage's folder."""
    if split_name not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split_name!r}")
    return Path(folder) / f"{split_name}.json"


def encode_candidates(cands: list[Candidate]) -> list[list[int]]:
    return [[s[0], s[1], p, o[0], o[1]] for s, p, o in cands]


def decode_candidates(rows: list[list[int]]) -> list[Candidate]:
    return [((a, b), p, (c, d)) for a, b, p, c, d in rows]


def load_candidates(folder, split_name: str, fold: int | None = None, *,
                    samples: list[Sample] | None = None, schema: Schema | None = None) -> list[list[Candidate]]:
    """Candidates per sample of `split_name` ("train", "dev", "test") from the prior stage's ``folder``;
    for "train", `fold` picks a CV fold's KB and None the full-training KB. Given `samples` / `schema`,
    checks they are the ones the file was made for (same sources in the same order, same predicate order)."""
    path = candidates_file(folder, split_name)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except ValueError as e:
        raise DataError(f"{path}:1: not a candidates file ({e}); re-run the prior stage") from None
    if doc.get("version") != CANDIDATES_VERSION:
        raise DataError(f"{path}:1: candidates file version {doc.get('version')!r}, expected {CANDIDATES_VERSION}")
    if schema is not None and list(schema.predicates) != doc["predicates"]:
        raise DataError(f"{path}:1: made for another predicate order; re-run the prior stage")
    if samples is not None and [s.source for s in samples] != doc["sources"]:
        raise DataError(f"{path}:1: {split_name} candidates were made for other samples "
                        f"({len(doc['sources'])} listed, {len(samples)} given)")
    if split_name == "train":
        table = doc["full"] if fold is None else doc["folds"].get(str(fold))
        if table is None:
            raise DataError(f"{path}:1: no candidates for fold {fold} (folds {sorted(doc['folds'])}); "
                            f"re-run the prior stage")
    elif fold is not None:
        raise ValueError("fold only applies to the train split")
    else:
        table = doc["candidates"]
    return [decode_candidates(rows) for rows in table]


def candidate_stats(samples: list[Sample], cands: list[list[Candidate]], schema: Schema) -> dict:
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


def build_candidates(train: list[Sample], dev: list[Sample], test: list[Sample], assignment: list[int],
                     folds: Iterable[int], schema: Schema, log=lambda msg: None) -> tuple[dict, dict]:
    """({split: its candidates document}, statistics), the files `load_candidates` reads.

    train ``folds[f]``: KB of the training samples outside fold f; training-fold samples with
    self-exclusion, fold-f samples (held out) without (they are not in the KB).
    train ``full``: KB of all training samples, with self-exclusion. dev, test: KB of all
    training samples."""
    def header(samples):
        return {"version": CANDIDATES_VERSION, "predicates": list(schema.predicates),
                "sources": [s.source for s in samples]}

    docs = {"train": {**header(train), "full": [], "folds": {}}, "dev": {**header(dev), "candidates": []},
            "test": {**header(test), "candidates": []}}
    stats: dict = {"folds": {}}
    for fold in folds:
        kb_samples, held = split(train, assignment, fold)
        kb = KnowledgeBase.build(kb_samples, schema)
        cands = [kb.candidates(s.text, exclude=s) for s in train]
        docs["train"]["folds"][str(fold)] = [encode_candidates(c) for c in cands]
        in_fold = [a == fold for a in assignment]
        stats["folds"][str(fold)] = {
            "kb_triples": len(kb),
            "train": candidate_stats([s for s, h in zip(train, in_fold) if not h],
                                     [c for c, h in zip(cands, in_fold) if not h], schema),
            "heldout": candidate_stats(held, [c for c, h in zip(cands, in_fold) if h], schema)}
        log(f"fold {fold}: {stats['folds'][str(fold)]}")

    kb = KnowledgeBase.build(train, schema)
    stats["kb_triples"] = len(kb)
    for name, samples, exclude in (("train", train, True), ("dev", dev, False), ("test", test, False)):
        cands = [kb.candidates(s.text, exclude=s if exclude else None) for s in samples]
        encoded = [encode_candidates(c) for c in cands]
        docs[name]["full" if name == "train" else "candidates"] = encoded
        stats[name] = candidate_stats(samples, cands, schema)
    return docs, stats
