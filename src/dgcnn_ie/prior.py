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

import ahocorasick
import numpy as np

from .data import Sample, Schema

Span = tuple[int, int]
Candidate = tuple[Span, int, Span]


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
