"""Training batches (`dgcnn_ie.batches`): targets, sampled subjects, length buckets, clipping and augmentation."""

import numpy as np
import pytest
from test_features import C, PAD, SCHEMA, SCHOOLS, _corpus, _first_spans, _sample, _word_vectors

from dgcnn_ie import batches as batches_module
from dgcnn_ie.batches import BATCH_ORDER, TrainingBatches, _substitute
from dgcnn_ie.data import Sample, Triple
from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
from dgcnn_ie.prior import KnowledgeBase


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


@pytest.fixture(scope="module")
def vocab(corpus):
    return CharVocab.build([s.text for s in corpus], min_count=1)


@pytest.fixture
def word_vectors(tmp_path):
    return _word_vectors(tmp_path)


def _collect(training, samples, **kw):
    kw = {"shuffle": True, "seed": 3, "epoch": 0, "augment": False, "augment_rate": 0.5, **kw}
    return list(training.batches(samples, 8, **kw))


def test_batch_order_is_the_fingerprinted_one():
    """`BATCH_ORDER` is in every checkpoint's fingerprint: changing the order must change it."""
    assert BATCH_ORDER == "augmented-length/1"


def test_counts_join_the_encoders_and_the_trainings_and_restore(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=25))
    _collect(training, corpus, augment=True, augment_rate=1.0)
    counts = training.counts()
    assert next(iter(counts)) == "texts_clipped" and counts["texts_clipped"] > 0
    assert counts == {**training.encoder.stats, **training.stats} and "texts_clipped" not in training.stats
    again = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=25))
    again.restore(counts, training.encoder.clipped_texts)
    assert list(again.counts().items()) == list(counts.items())
    assert again.encoder.clipped_texts == training.encoder.clipped_texts


def test_batch_shapes_padding_and_masks(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(4), SCHEMA, max_len=512))
    for inputs, targets in _collect(training, corpus, shuffle=False):
        b, length = inputs["chars"].shape
        assert inputs["words"].shape == (b, length, 4)
        assert inputs["subject_prior"].shape == (b, length, 2)
        assert inputs["object_prior"].shape == (b, length, 2 * C)
        assert inputs["subject_span"].shape == (b, 2) and inputs["subject_span"].dtype == np.int32
        assert targets["subject_start"].shape == targets["subject_end"].shape == (b, length)
        assert targets["object_start"].shape == targets["object_end"].shape == (b, length, C)
        mask = inputs["chars"] != PAD
        lengths = mask.sum(axis=1)
        assert lengths.max() == length                                # padded to the batch's longest
        assert (mask == (np.arange(length) < lengths[:, None])).all()  # padding only at the end
        for name, t in targets.items():
            assert not t[~mask].any(), name                           # no target on padding


def test_batches_cover_each_sample_once_and_bucket_by_length(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    batches = _collect(training, corpus)
    rows = sorted(tuple(r[r != PAD]) for inputs, _ in batches for r in inputs["chars"])
    assert rows == sorted(tuple(vocab.encode(s.text)) for s in corpus)
    ranges = sorted(((inputs["chars"] != PAD).sum(1).min(), (inputs["chars"] != PAD).sum(1).max())
                    for inputs, _ in batches)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))     # one chunk: sorted, no overlap


def test_batches_bucket_by_the_augmented_length(vocab, corpus):
    """A substituted entity changes a text's length: batches are sorted by the text each sample became."""
    names = ["李白", "欧阳修远之孙", "杜甫", "司马相如之后"]     # entities of other lengths than PEOPLE's
    corpus = corpus + [_sample(100 + i, f"{p}，毕业于{s}", [(p, "毕业院校", s)])
                       for i, (p, s) in enumerate(zip(names * 5, SCHOOLS * 7))]
    training = TrainingBatches(Encoder(CharVocab.build([s.text for s in corpus], min_count=1), NoWordVectors(2), SCHEMA, max_len=512))
    batches = _collect(training, corpus, augment=True, augment_rate=1.0)
    assert training.stats["augmented"] > 0
    lengths = sorted(int(n) for inputs, _ in batches for n in (inputs["chars"] != PAD).sum(1))
    assert lengths != sorted(len(s.text) for s in corpus)            # augmentation changed some lengths
    assert len(lengths) == len(corpus)
    ranges = sorted(((inputs["chars"] != PAD).sum(1).min(), (inputs["chars"] != PAD).sum(1).max())
                    for inputs, _ in batches)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))     # one chunk: sorted, no overlap


def test_batches_over_several_chunks(vocab, corpus, monkeypatch):
    """Chunks of BUCKET_BATCHES batches: each sample once, each chunk's batches together and sorted by
    length, only the very last batch short."""
    monkeypatch.setattr(batches_module, "BUCKET_BATCHES", 2)
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    batches = list(training.batches(corpus, 7, shuffle=True, seed=1, epoch=0, augment=False, augment_rate=0.5))
    sizes = [len(inputs["chars"]) for inputs, _ in batches]
    assert sizes == [7] * (len(corpus) // 7) + [len(corpus) % 7] and training.stats["samples"] == len(corpus)
    rows = sorted(tuple(r[r != PAD]) for inputs, _ in batches for r in inputs["chars"])
    assert rows == sorted(tuple(vocab.encode(s.text)) for s in corpus)
    for c in range(0, len(batches), 2):                  # a chunk's two batches: sorted, no overlap
        chunk = [(inputs["chars"] != PAD).sum(1) for inputs, _ in batches[c:c + 2]]
        ranges = sorted((n.min(), n.max()) for n in chunk)
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


def test_batches_deterministic_by_seed_and_epoch(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))

    def flat(batches):
        return [a for inputs, targets in batches for d in (inputs, targets) for a in d.values()]

    first = flat(_collect(training, corpus, augment=True))
    again = flat(_collect(training, corpus, augment=True))
    assert len(first) == len(again) and all(np.array_equal(a, b) for a, b in zip(first, again))
    other = flat(_collect(training, corpus, augment=True, epoch=1))
    assert len(other) != len(first) or not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_targets_follow_the_sampled_subject_and_negatives_occur(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    negatives = positives = 0
    for epoch in range(4):
        k = 0
        for inputs, targets in _collect(training, corpus, shuffle=False, epoch=epoch):
            for i in range(len(inputs["chars"])):
                sample = corpus[k]
                k += 1
                expected = _first_spans(sample, len(sample.text))
                starts = {s for s, _ in expected}
                ends = {e for _, e in expected}
                assert set(np.flatnonzero(targets["subject_start"][i])) == starts
                assert set(np.flatnonzero(targets["subject_end"][i])) == ends
                span = tuple(inputs["subject_span"][i])
                assert span[0] in starts and span[1] in ends and span[0] <= span[1]
                want = expected.get(span, set())
                assert {(o[0], p) for o, p in want} == set(zip(*np.nonzero(targets["object_start"][i])))
                assert {(o[1], p) for o, p in want} == set(zip(*np.nonzero(targets["object_end"][i])))
                if span in expected:
                    positives += 1
                else:
                    negatives += 1
                    assert not targets["object_start"][i].any() and not targets["object_end"][i].any()
    assert negatives > 0 and positives > negatives
    assert training.stats["negative_subjects"] == negatives


def test_clipping_drops_and_counts_labels_beyond_max_len(vocab):
    text = "张三丰毕业于清华大学" + "据说" * 20 + "李四光毕业于南开大学"
    sample = _sample(0, text, [("张三丰", "毕业院校", "清华大学"), ("李四光", "毕业院校", "南开大学")])
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=30))
    (inputs, targets), = _collect(training, [sample])
    assert inputs["chars"].shape == (1, 30)
    assert np.flatnonzero(targets["subject_start"][0]).tolist() == [0]
    assert tuple(inputs["subject_span"][0]) == (0, 2)
    assert np.flatnonzero(targets["object_end"][0][:, SCHEMA.index("毕业院校")]).tolist() == [9]
    assert training.stats["triples_beyond_max_len"] == 1 and training.stats["triples"] == 1
    assert training.encoder.stats["texts_clipped"] == 1


def test_a_clipped_text_is_counted_once_however_often_it_is_encoded(vocab, corpus):
    """Training re-encodes every sample every epoch (augmented or not) and dev decoding re-encodes too:
    `texts_clipped` counts the distinct long texts, not their encodings."""
    long = {s.text for s in corpus if len(s.text) > 25}
    assert 0 < len(long) < len(corpus)
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=25))
    for epoch in (1, 2):
        _collect(training, corpus, epoch=epoch, augment=True, augment_rate=1.0)
        training.encoder.encode_inputs(corpus)
    assert training.stats["samples"] == 2 * len(corpus) and training.stats["augmented"] > 0   # per-epoch counts still grow
    assert training.encoder.stats["texts_clipped"] == len(long) and training.encoder.clipped_texts == long


def test_sample_without_located_triples_is_an_all_negative_example(vocab):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=5))
    sample = _sample(0, "张三丰毕业于清华大学", [("张三丰", "毕业院校", "清华大学")])
    (inputs, targets), = _collect(training, [sample])
    assert tuple(inputs["subject_span"][0]) == (0, 0)
    assert not any(t.any() for t in targets.values()) and training.stats["no_subject"] == 1


def test_augmentation_keeps_spans_inside_the_text_and_consistent(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    subjects = {t.subject for s in corpus for t in s.triples}
    objects = {(t.object, SCHEMA.index(t.predicate)) for s in corpus for t in s.triples}
    texts = set()
    for inputs, targets in _collect(training, corpus, shuffle=False, augment=True, augment_rate=1.0):
        lengths = (inputs["chars"] != PAD).sum(1)
        for i, n in enumerate(lengths):
            text = "".join(vocab.chars[c - 2] for c in inputs["chars"][i, :n])   # min_count=1: no UNK
            texts.add(text)
            span = inputs["subject_span"][i]
            assert 0 <= span[0] <= span[1] < n
            for name in ("subject_start", "subject_end", "object_start", "object_end"):
                assert all(pos < n for pos in np.nonzero(targets[name][i])[0])
            starts, ends = np.flatnonzero(targets["subject_start"][i]), np.flatnonzero(targets["subject_end"][i])
            assert len(starts) == len(ends) >= 1
            assert {text[a:b + 1] for a, b in zip(starts, ends)} <= subjects     # spans still name subjects
            for a, p in zip(*np.nonzero(targets["object_start"][i])):
                b = next(b for b in np.flatnonzero(targets["object_end"][i][:, p]) if b >= a)
                assert (text[a:b + 1], p) in objects                            # and objects of that predicate
    assert training.stats["augmented"] > len(corpus) // 2
    assert len(texts - {s.text for s in corpus}) >= training.stats["augmented"] // 2   # texts really changed
    assert training.stats["augmented"] + training.stats["augment_skipped"] == len(corpus)


def test_substitute_replaces_subject_and_object_everywhere():
    pool = {"作者": [("呐喊", "周树人")], "出生地": [("周树人", "绍兴")]}
    text = "《星河记》是张三丰创作的小说，张三丰生于杭州"
    triples = [Triple("星河记", "作者", "张三丰"), Triple("张三丰", "出生地", "杭州")]
    expected = {
        ("《呐喊》是周树人创作的小说，周树人生于杭州",
         (Triple("呐喊", "作者", "周树人"), Triple("周树人", "出生地", "杭州"))),
        ("《星河记》是周树人创作的小说，周树人生于绍兴",
         (Triple("星河记", "作者", "周树人"), Triple("周树人", "出生地", "绍兴"))),
    }
    seen = set()
    for seed in range(10):
        new_text, new_triples = _substitute(text, triples, pool, np.random.default_rng(seed))
        seen.add((new_text, tuple(new_triples)))
    assert seen == expected


@pytest.mark.parametrize("text,triples,pool", [
    # the object is nested in the subject (pattern 5): one replacement would hide the other occurrence
    ("《鲁迅自传》是鲁迅写的", [("鲁迅自传", "作者", "鲁迅")], {"作者": [("呐喊", "周树人")]}),
    # the new object already occurs in the text: its first occurrence would be ambiguous
    ("《星河记》是张三丰写的，李四光读过", [("星河记", "作者", "张三丰")], {"作者": [("呐喊", "李四光")]}),
    # a new string contains another triple's string: that triple's first occurrence would move
    ("张三丰写了《星河记》，杭州人", [("星河记", "作者", "张三丰"), ("张三丰", "出生地", "杭州")],
     {"作者": [("杭州往事", "王五郎")], "出生地": [("李四光", "星河记的故乡")]}),
    # subject equal to object
    ("张三写张三", [("张三", "作者", "张三")], {"作者": [("呐喊", "周树人")]}),
    # the only pair of the predicate is the triple itself
    ("《呐喊》是周树人写的", [("呐喊", "作者", "周树人")], {"作者": [("呐喊", "周树人")]}),
])
def test_substitute_refuses_ambiguous_replacements(text, triples, pool):
    triples = [Triple(*t) for t in triples]
    assert all(_substitute(text, triples, pool, np.random.default_rng(seed)) is None for seed in range(10))


def test_batches_with_prior(vocab, corpus):
    kb = KnowledgeBase.build(corpus, SCHEMA)
    cands = [kb.candidates(s.text, exclude=s) for s in corpus]
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512, prior=kb))
    given = _collect(training, corpus, kb_candidates=cands)
    computed = _collect(training, corpus)
    assert all(np.array_equal(a[0][k], b[0][k]) for a, b in zip(given, computed) for k in a[0])
    assert any(inputs["subject_prior"].any() for inputs, _ in given)
    assert any(inputs["object_prior"].any() for inputs, _ in given)
    plain = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    assert not any(inputs["subject_prior"].any() or inputs["object_prior"].any()
                   for inputs, _ in _collect(plain, corpus))
    with pytest.raises(ValueError, match="prior=kb"):
        plain.batches(corpus, 8, shuffle=True, seed=0, epoch=0, augment=True, augment_rate=0.5, kb_candidates=cands)


def test_batches_use_word_vectors(vocab, corpus, word_vectors):
    wv, _ = word_vectors
    training = TrainingBatches(Encoder(vocab, wv, SCHEMA, max_len=512))
    inputs, _ = _collect(training, corpus[:4], shuffle=False)[0]
    for i, sample in enumerate(corpus[:4]):
        assert np.array_equal(inputs["words"][i, :len(sample.text)], wv.char_aligned(sample.text))


def test_bad_batch_requests_raise(vocab, corpus):
    training = TrainingBatches(Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512))
    unlabelled = Sample("张三丰", [], labelled=False, source="x:1", raw={})
    with pytest.raises(ValueError, match="no labels"):
        training.batches([unlabelled], 8, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        training.batches(corpus, 0, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5)
    with pytest.raises(ValueError, match="candidate lists"):
        training.batches(corpus, 8, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5, kb_candidates=[[]])
