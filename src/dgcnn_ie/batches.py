"""Training batches (method.md section 4): sampling, augmentation and length buckets over a `features.Encoder`.

`TrainingBatches` makes the ``(inputs, targets)`` batches an epoch trains on; the text arrays are the
inference encoder's (`features.Encoder.fill_text`), so a model sees the same inputs in training and prediction.
Its ``stats`` count, cumulatively, what training did (every epoch re-encodes every sample, so the counts grow
per epoch); the clipped texts are counted by the encoder (`features.Encoder.stats`). `TrainingBatches.counts`
joins both: what a training checkpoint saves and ``reports/train/run.json`` reports.

Label positions follow the reference code: a triple's subject and object are located at their FIRST
occurrence in the text (``find_spans(...)[0]``). A triple whose subject or object ends beyond the clipped text
is dropped from the targets and counted in ``stats["triples_beyond_max_len"]``.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .data import Sample, Triple, find_spans
from .features import Encoder, Span, candidates_inside
from .prior import object_prior

BUCKET_BATCHES = 100     # batches per length-sorting chunk in `TrainingBatches.batches`
BATCH_ORDER = "augmented-length/1"   # names `TrainingBatches.batches`' order; in a checkpoint's fingerprint, so a
                                     # checkpoint of another order is not resumed (tests/test_train.py)


class TrainingBatches:
    """Training batches of ``encoder``'s inputs with their targets; ``stats`` counts what they dropped or did."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.stats: Counter = Counter()

    def counts(self) -> dict:
        """The encoder's counts (clipped texts) then the training's: a checkpoint's ``encoder_stats``."""
        return {**self.encoder.stats, **self.stats}

    def restore(self, counts: dict, clipped_texts: Iterable[str]) -> None:
        """Set the counts `counts` gave (and the encoder's clipped texts) back: a resumed run counts the same."""
        self.encoder.stats.clear()
        self.encoder.stats.update({k: n for k, n in counts.items() if k == "texts_clipped"})
        self.encoder.clipped_texts = set(clipped_texts)
        self.stats.clear()
        self.stats.update({k: n for k, n in counts.items() if k != "texts_clipped"})

    def batches(self, samples: Sequence[Sample], batch_size: int, *, shuffle: bool, seed: int, epoch: int,
                augment: bool, augment_rate: float,
                kb_candidates: Sequence[list] | None = None) -> Iterator[tuple[dict, dict]]:
        """Training batches ``(inputs, targets)``, deterministic given ``seed`` and ``epoch``.

        With ``shuffle``, samples are shuffled and taken in chunks of ``BUCKET_BATCHES``
        batches; a chunk's examples are made (augmented), sorted by the length of the text
        each became, cut into batches, and the chunk's batches come in shuffled order.
        Sorting after augmentation matters: a substituted entity changes the text's length, so
        sorting by the original lengths pads more (docs/deviations.md T6, docs/benchmark.md "Faster
        by default"). Without ``shuffle``, batches follow the sample order. Each batch
        is padded to its longest (clipped) text. ``kb_candidates[i]`` are the prior candidates of
        ``samples[i]`` (self-excluded); an augmented text gets fresh candidates
        from the encoder's ``prior``.
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
        if augment and kb_candidates is not None and self.encoder.prior is None:
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
        enc = self.encoder
        b, length, c = len(examples), max(len(e[0]) for e in examples), enc.num_predicates
        inputs = {"chars": np.zeros((b, length), np.int32),
                  "words": np.zeros((b, length, enc.word_vectors.dim), np.float32),
                  "subject_prior": np.zeros((b, length, 2), np.float32),
                  "object_prior": np.zeros((b, length, 2 * c), np.float32),
                  "subject_span": np.zeros((b, 2), np.int32)}
        targets = {"subject_start": np.zeros((b, length), np.float32),
                   "subject_end": np.zeros((b, length), np.float32),
                   "object_start": np.zeros((b, length, c), np.float32),
                   "object_end": np.zeros((b, length, c), np.float32)}
        for i, (text, items, span, cands, augmented) in enumerate(examples):
            enc.fill_text(inputs, i, text, cands, remember=not augmented)
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
        enc = self.encoder
        text, triples, augmented = sample.text, sample.triples, False
        if pool is not None and triples and rng.random() < augment_rate:
            substituted = _substitute(text, triples, pool, rng)
            self.stats["augmented" if substituted else "augment_skipped"] += 1
            if substituted:
                text, triples = substituted
                augmented = True
        self.stats["samples"] += 1
        enc.count_clipped(sample.text)
        clipped = text[:enc.max_len]
        items: dict[Span, list[tuple[Span, int]]] = defaultdict(list)
        for t in triples:
            s_spans, o_spans = find_spans(text, t.subject), find_spans(text, t.object)
            if not s_spans or not o_spans:
                raise ValueError(f"{sample.source}: triple {t} is not in its text")
            if s_spans[0][1] >= len(clipped) or o_spans[0][1] >= len(clipped):
                self.stats["triples_beyond_max_len"] += 1
                continue
            self.stats["triples"] += 1
            items[s_spans[0]].append((o_spans[0], enc.schema.index(t.predicate)))
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
            cands = None if enc.prior is None else enc.prior.candidates(clipped, exclude=sample)
        if cands is not None:
            cands = candidates_inside(cands, len(clipped))
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
