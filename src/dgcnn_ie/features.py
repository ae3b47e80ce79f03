"""Model inputs and training targets (method.md sections 3 and 4).

- ``CharVocab``: char ids, 0 = padding, 1 = unknown.
- ``WordVectors``: per char, the word2vec vector of the word it belongs to
  (zeros for words without a vector); ``NoWordVectors`` gives zeros (ablation).
- ``Encoder``: padded input arrays for prediction (``encode_inputs``) and
  length-bucketed training batches with targets (``batches``).

Label positions follow the reference code: a triple's subject and object are
located at their FIRST occurrence in the text (``find_spans(...)[0]``). Texts
are clipped to ``max_len`` characters; a triple whose subject or object ends
beyond the clipped text is dropped from the targets and counted in
``Encoder.stats["triples_beyond_max_len"]``.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .data import Sample, Schema, Triple, atomic_write, find_spans
from .prior import object_prior, subject_prior
from .segment import Segmenter
from .word2vec import load_vectors

PAD, UNK = 0, 1
BUCKET_BATCHES = 100     # batches per length-sorting chunk in `Encoder.batches`
BATCH_ORDER = "augmented-length/1"   # names `Encoder.batches`' order; in a checkpoint's fingerprint, so a
                                     # checkpoint of another order is not resumed (tests/test_train.py)

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
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        return cls(doc["chars"], doc["min_count"])


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


def _inside(cands, length: int) -> list:
    """Prior candidates whose subject and object both end inside the clipped text."""
    return [c for c in cands if c[0][1] < length and c[2][1] < length]


class Encoder:
    """Samples -> padded numpy inputs (and training targets) for the models in ``model.py``.

    ``prior`` is a ``prior.KnowledgeBase`` (or None): without candidates given by
    the caller, prior features are computed from it (excluding the sample itself
    in training); with neither, the prior channels are zeros.
    ``stats`` counts, cumulatively, what encoding dropped or did (every epoch re-encodes every sample,
    so most counts grow per epoch), except ``texts_clipped``: the distinct texts longer than
    ``max_len``, each counted once however often it is encoded (every epoch, every dev decoding);
    ``clipped_texts`` holds them (a training checkpoint saves it, so a resumed run counts the same).
    A sample's augmented variants are not new texts: training counts the sample's own text.
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

    def _count_clipped(self, text: str) -> None:
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

    def _fill_text(self, out: dict, i: int, text: str, cands, remember: bool = True) -> None:
        n = len(text)
        out["chars"][i, :n] = self.vocab.encode(text)
        out["words"][i, :n] = self.word_vectors.char_aligned(text, remember=remember)
        if cands is not None:
            out["subject_prior"][i] = subject_prior(_inside(cands, n), out["chars"].shape[1])

    def encode_inputs(self, samples: Sequence[Sample | str], prior_candidates=None) -> dict[str, np.ndarray]:
        """``chars int32[B,L]``, ``words float32[B,L,Dw]``, ``subject_prior float32[B,L,2]``; L = longest clipped text."""
        texts = [self._text(s)[:self.max_len] for s in samples]
        for s in samples:
            self._count_clipped(self._text(s))
        if prior_candidates is None:
            prior_candidates = self.prior_candidates(texts)
        if prior_candidates is not None and len(prior_candidates) != len(texts):
            raise ValueError(f"{len(prior_candidates)} candidate lists for {len(texts)} samples")
        length = max([1] + [len(t) for t in texts])
        out = {"chars": np.zeros((len(texts), length), np.int32),
               "words": np.zeros((len(texts), length, self.word_vectors.dim), np.float32),
               "subject_prior": np.zeros((len(texts), length, 2), np.float32)}
        for i, text in enumerate(texts):
            self._fill_text(out, i, text, None if prior_candidates is None else prior_candidates[i])
        return out

    def object_prior(self, prior_candidates, rows: Sequence[int], spans: Sequence[Span],
                     length: int) -> np.ndarray:
        """``float32[N, L, 2C]`` object prior of subject ``spans[k]`` in sample ``rows[k]`` (zeros without candidates)."""
        out = np.zeros((len(rows), length, 2 * self.num_predicates), np.float32)
        if prior_candidates is not None:
            for k, (row, span) in enumerate(zip(rows, spans)):
                out[k] = object_prior(_inside(prior_candidates[row], length), tuple(span), length,
                                      self.num_predicates)
        return out

    def batches(self, samples: Sequence[Sample], batch_size: int, *, shuffle: bool, seed: int, epoch: int,
                augment: bool, augment_rate: float,
                kb_candidates: Sequence[list] | None = None) -> Iterator[tuple[dict, dict]]:
        """Training batches ``(inputs, targets)``, deterministic given ``seed`` and ``epoch``.

        With ``shuffle``, samples are shuffled and taken in chunks of ``BUCKET_BATCHES``
        batches; a chunk's examples are made (augmented), sorted by the length of the text
        each became, cut into batches, and the chunk's batches come in shuffled order.
        Sorting after augmentation matters: a substituted entity changes the text's length;
        sorted by the original lengths, DuIE batches were padded to 80.6 characters on average,
        now to 68.6 (docs/benchmark.md). Without ``shuffle``, batches follow the sample order. Each batch
        is padded to its longest (clipped) text. ``kb_candidates[i]`` are the prior candidates of
        ``samples[i]`` (self-excluded); an augmented text gets fresh candidates
        from ``self.prior``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= augment_rate <= 1.0:
            raise ValueError(f"augment_rate must be in [0, 1], got {augment_rate}")
        unlabelled = [s.source for s in samples if not s.labelled]
        if unlabelled:
            raise ValueError(f"{len(unlabelled)} training samples have no labels (e.g. {unlabelled[0]})")
        if kb_candidates is not None and len(kb_candidates) != len(samples):
            raise ValueError(f"{len(kb_candidates)} candidate lists for {len(samples)} samples")
        if augment and kb_candidates is not None and self.prior is None:
            raise ValueError("augmentation with kb_candidates needs Encoder(prior=kb) to recompute candidates "
                             "of augmented texts")
        rng = np.random.default_rng([seed, epoch])
        pool = _substitution_pool(samples) if augment else None

        def examples(idx):
            return [self._example(samples[i], None if kb_candidates is None else kb_candidates[i],
                                  rng, pool, augment_rate) for i in idx]

        def generate():
            if not shuffle:
                for start in range(0, len(samples), batch_size):
                    yield self._training_batch(examples(range(start, min(start + batch_size, len(samples)))))
                return
            order = rng.permutation(len(samples))
            chunk = batch_size * BUCKET_BATCHES
            for c in range(0, len(samples), chunk):
                made = examples(order[c:c + chunk])
                by_length = np.argsort([len(e[0]) for e in made], kind="stable")
                cut = [by_length[i:i + batch_size] for i in range(0, len(made), batch_size)]
                for k in rng.permutation(len(cut)):
                    yield self._training_batch([made[j] for j in cut[k]])

        return generate()

    def _training_batch(self, examples) -> tuple[dict, dict]:
        """Arrays of one batch of ``_example`` tuples, padded to the longest text."""
        b, length, c = len(examples), max(len(e[0]) for e in examples), self.num_predicates
        inputs = {"chars": np.zeros((b, length), np.int32),
                  "words": np.zeros((b, length, self.word_vectors.dim), np.float32),
                  "subject_prior": np.zeros((b, length, 2), np.float32),
                  "object_prior": np.zeros((b, length, 2 * c), np.float32),
                  "subject_span": np.zeros((b, 2), np.int32)}
        targets = {"subject_start": np.zeros((b, length), np.float32),
                   "subject_end": np.zeros((b, length), np.float32),
                   "object_start": np.zeros((b, length, c), np.float32),
                   "object_end": np.zeros((b, length, c), np.float32)}
        for i, (text, items, span, cands, augmented) in enumerate(examples):
            self._fill_text(inputs, i, text, cands, remember=not augmented)
            if cands is not None:
                inputs["object_prior"][i] = object_prior(cands, span, length, c)
            inputs["subject_span"][i] = span
            for s0, s1 in items:
                targets["subject_start"][i, s0] = 1.0
                targets["subject_end"][i, s1] = 1.0
            for (o0, o1), p in items.get(span, ()):
                targets["object_start"][i, o0, p] = 1.0
                targets["object_end"][i, o1, p] = 1.0
        return inputs, targets

    def _example(self, sample: Sample, cands, rng, pool, augment_rate):
        """(clipped text, {subject span: [(object span, p)]}, sampled subject span, candidates, augmented)."""
        text, triples, augmented = sample.text, sample.triples, False
        if pool is not None and triples and rng.random() < augment_rate:
            substituted = _substitute(text, triples, pool, rng)
            self.stats["augmented" if substituted else "augment_skipped"] += 1
            if substituted:
                text, triples = substituted
                augmented = True
        self.stats["samples"] += 1
        self._count_clipped(sample.text)
        clipped = text[:self.max_len]
        items: dict[Span, list[tuple[Span, int]]] = defaultdict(list)
        for t in triples:
            s_spans, o_spans = find_spans(text, t.subject), find_spans(text, t.object)
            if not s_spans or not o_spans:
                raise ValueError(f"{sample.source}: triple {t} is not in its text")
            if s_spans[0][1] >= len(clipped) or o_spans[0][1] >= len(clipped):
                self.stats["triples_beyond_max_len"] += 1
                continue
            self.stats["triples"] += 1
            items[s_spans[0]].append((o_spans[0], self.schema.index(t.predicate)))
        if items:
            starts = np.array([k[0] for k in items])
            ends = np.array([k[1] for k in items])
            start = int(rng.choice(starts))
            span = (start, int(rng.choice(ends[ends >= start])))
            self.stats["negative_subjects"] += span not in items
        else:
            span = (0, 0)
            self.stats["no_subject"] += 1
        if augmented or cands is None:
            cands = None if self.prior is None else self.prior.candidates(clipped, exclude=sample)
        if cands is not None:
            cands = _inside(cands, len(clipped))
        return clipped, dict(items), span, cands, augmented


def _substitution_pool(samples: Iterable[Sample]) -> dict[str, list[tuple[str, str]]]:
    """predicate -> every (subject, object) of the training triples (repeats kept: frequent pairs weigh more)."""
    pool: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sample in samples:
        for t in sample.triples:
            pool[t.predicate].append((t.subject, t.object))
    return pool


def _substitute(text: str, triples: list[Triple], pool, rng) -> tuple[str, list[Triple]] | None:
    """Replace one triple's subject and object by another same-predicate pair, everywhere; None if ambiguous.

    Both strings are replaced in one pass over the text and over every triple.
    The substitution is refused when it would change how often any triple string
    occurs (a string vanishing inside a replaced one, a new string already in the
    text or created across a boundary), since first-occurrence spans would then
    point at the wrong place.
    """
    t = triples[int(rng.integers(len(triples)))]
    pairs = pool[t.predicate]
    s2, o2 = pairs[int(rng.integers(len(pairs)))]
    if t.subject == t.object or (s2, o2) == (t.subject, t.object):
        return None
    mapping = {t.subject: s2, t.object: o2}
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))

    def replace(x: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(0)], x)

    new_text = replace(text)
    for x in {x for tr in triples for x in (tr.subject, tr.object)}:
        if len(find_spans(new_text, replace(x))) != len(find_spans(text, x)):
            return None
    return new_text, [Triple(replace(tr.subject), tr.predicate, replace(tr.object)) for tr in triples]
