"""Model inputs for prediction (method.md section 3); training batches are `dgcnn_ie.batches`.

- ``CharVocab``: char ids, 0 = padding, 1 = unknown.
- ``WordVectors``: per char, the word2vec vector of the word it belongs to
  (zeros for words without a vector); ``NoWordVectors`` gives zeros (ablation).
- ``Encoder``: padded input arrays (``encode_inputs``), the prior's candidates
  (``prior_candidates``) and object prior (``object_prior``) of clipped texts.

Texts are clipped to ``max_len`` characters; ``Encoder.stats["texts_clipped"]`` counts the distinct texts
that were.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .data import DataError, Sample, Schema
from .files import atomic_write
from .prior import object_prior, subject_prior
from .segment import Segmenter
from .trust import Fields, read_json
from .word2vec import load_vectors

PAD, UNK = 0, 1

Span = tuple[int, int]


class CharVocab:
    """Characters seen at least ``min_count`` times, by decreasing count (ties by code point)."""

    def __init__(self, chars: Sequence[str], min_count: int):
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("CharVocab needs distinct single characters")
        self.chars = list(chars)
        self.min_count = min_count
        self._ids = {c: i + 2 for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2) -> CharVocab:
        counts = Counter(c for text in texts for c in text)
        kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        return cls(kept, min_count)

    def __len__(self) -> int:
        return len(self.chars) + 2

    def encode(self, text: str) -> np.ndarray:
        """``int32[len(text)]`` char ids (``UNK`` for unseen chars)."""
        return np.fromiter((self._ids.get(c, UNK) for c in text), dtype=np.int32, count=len(text))

    def save(self, path) -> None:
        with atomic_write(path) as f:
            json.dump({"min_count": self.min_count, "chars": self.chars}, f, ensure_ascii=False)
            f.write("\n")

    @classmethod
    def load(cls, path) -> CharVocab:
        """The vocabulary `save` wrote, validated (`dgcnn_ie.trust`: a regular file, known keys only, distinct
        single chars); any problem is a `DataError` naming the file and the key."""
        path = Path(path)
        doc = Fields(path, read_json(path.parent, path.name))
        chars, min_count = doc.list("chars"), doc.int("min_count", lo=1)
        doc.done()
        try:
            return cls(chars, min_count)
        except (ValueError, TypeError) as e:
            raise DataError(f"{path}:1: chars: {e}") from None


class WordVectors:
    """Word vectors aligned to chars; the word-row lookup of each text is memoised."""

    def __init__(self, folder, segmenter: Segmenter):
        self.path = str(folder)
        self.segmenter = segmenter
        table = load_vectors(folder)
        self._index = {word: i for i, word in enumerate(table.words)}
        self.dim, self.count, self.digest = table.dim, len(table.words), table.digest
        self._table = np.vstack([table.vectors, np.zeros((1, self.dim), dtype=np.float32)])  # last row: unknown
        self._memo: dict[str, np.ndarray] = {}

    def _rows(self, text: str, remember: bool) -> np.ndarray:
        rows = self._memo.get(text)
        if rows is None:
            unknown = len(self._table) - 1
            rows = np.empty(len(text), dtype=np.int32)
            pos = 0
            for word in self.segmenter.cut(text, remember=remember):
                rows[pos:pos + len(word)] = self._index.get(word, unknown)
                pos += len(word)
            if remember:
                self._memo[text] = rows
        return rows

    def char_aligned(self, text: str, remember: bool = True) -> np.ndarray:
        """``float32[len(text), dim]``; ``remember=False`` for one-off texts (augmented ones)."""
        return self._table[self._rows(text, remember)]


class NoWordVectors:
    """Zeros in place of word vectors (the chars-only ablation)."""

    def __init__(self, dim: int):
        if dim < 0:
            raise ValueError(f"word vector dim must be >= 0, got {dim}")
        self.dim = dim

    def char_aligned(self, text: str, remember: bool = True) -> np.ndarray:
        return np.zeros((len(text), self.dim), dtype=np.float32)


def candidates_inside(cands, length: int) -> list:
    """Prior candidates whose subject and object both end inside the clipped text."""
    return [c for c in cands if c[0][1] < length and c[2][1] < length]


class Encoder:
    """Samples -> padded numpy inputs for the models in ``model.py`` (training batches: `dgcnn_ie.batches`).

    ``prior`` is a ``prior.KnowledgeBase`` (or None): without candidates given by
    the caller, prior features are computed from it; with neither, the prior channels are zeros.
    ``stats["texts_clipped"]`` counts the distinct texts longer than ``max_len``, each counted once however
    often it is encoded (every epoch, every dev decoding); ``clipped_texts`` holds them (a training
    checkpoint saves it, so a resumed run counts the same). A sample's augmented variants are not new
    texts: training counts the sample's own text (`count_clipped`).
    """

    def __init__(self, vocab: CharVocab, word_vectors, schema: Schema, max_len: int, prior=None):
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.vocab = vocab
        self.word_vectors = word_vectors
        self.schema = schema
        self.num_predicates = len(schema)
        self.max_len = max_len
        self.prior = prior
        self.stats: Counter = Counter(texts_clipped=0)      # reported even when nothing is clipped
        self.clipped_texts: set[str] = set()

    def count_clipped(self, text: str) -> None:
        """Count ``text`` in ``stats["texts_clipped"]`` if it is longer than ``max_len`` and new."""
        if len(text) > self.max_len and text not in self.clipped_texts:
            self.clipped_texts.add(text)
            self.stats["texts_clipped"] += 1

    def prior_candidates(self, samples: Sequence[Sample | str]) -> list[list] | None:
        """Prediction-time candidates of each (clipped) text, or None without a prior."""
        if self.prior is None:
            return None
        return [self.prior.candidates(self._text(s)[:self.max_len]) for s in samples]

    @staticmethod
    def _text(sample: Sample | str) -> str:
        return sample if isinstance(sample, str) else sample.text

    def fill_text(self, out: dict, i: int, text: str, cands, remember: bool = True) -> None:
        """Row ``i`` of ``out``'s ``chars``, ``words`` and (with ``cands``) ``subject_prior`` from the clipped ``text``."""
        n = len(text)
        out["chars"][i, :n] = self.vocab.encode(text)
        out["words"][i, :n] = self.word_vectors.char_aligned(text, remember=remember)
        if cands is not None:
            out["subject_prior"][i] = subject_prior(candidates_inside(cands, n), out["chars"].shape[1])

    def encode_inputs(self, samples: Sequence[Sample | str], prior_candidates=None) -> dict[str, np.ndarray]:
        """``chars int32[B,L]``, ``words float32[B,L,Dw]``, ``subject_prior float32[B,L,2]``; L = longest clipped text."""
        texts = [self._text(s)[:self.max_len] for s in samples]
        for s in samples:
            self.count_clipped(self._text(s))
        if prior_candidates is None:
            prior_candidates = self.prior_candidates(texts)
        if prior_candidates is not None and len(prior_candidates) != len(texts):
            raise ValueError(f"{len(prior_candidates)} candidate lists for {len(texts)} samples")
        length = max([1] + [len(t) for t in texts])
        out = {"chars": np.zeros((len(texts), length), np.int32),
               "words": np.zeros((len(texts), length, self.word_vectors.dim), np.float32),
               "subject_prior": np.zeros((len(texts), length, 2), np.float32)}
        for i, text in enumerate(texts):
            self.fill_text(out, i, text, None if prior_candidates is None else prior_candidates[i])
        return out

    def object_prior(self, prior_candidates, rows: Sequence[int], spans: Sequence[Span],
                     length: int) -> np.ndarray:
        """``float32[N, L, 2C]`` object prior of subject ``spans[k]`` in sample ``rows[k]`` (zeros without candidates)."""
        out = np.zeros((len(rows), length, 2 * self.num_predicates), np.float32)
        if prior_candidates is not None:
            for k, (row, span) in enumerate(zip(rows, spans)):
                out[k] = object_prior(candidates_inside(prior_candidates[row], length), tuple(span), length,
                                      self.num_predicates)
        return out
