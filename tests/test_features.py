"""Char vocabulary, char-aligned word vectors, and the Encoder's inputs, training targets and augmentation."""

import random

import numpy as np
import pytest
from gensim.models import KeyedVectors

from dgcnn_ie.data import Sample, Schema, Triple, find_spans
from dgcnn_ie.features import PAD, UNK, CharVocab, Encoder, NoWordVectors, WordVectors, _substitute
from dgcnn_ie.prior import KnowledgeBase
from dgcnn_ie.segment import Segmenter
from dgcnn_ie.word2vec import save_vectors

SCHEMA = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")],
                            "出生地": [("人物", "地点")], "毕业院校": [("人物", "学校")]}, {})
C = len(SCHEMA)
PEOPLE = ["张三丰", "李四光", "王五郎", "赵六娘", "孙七星", "周八方", "吴九天"]
BOOKS = ["星河记", "长夜行", "春山录", "秋水集", "海潮音"]
PRESSES = ["人民出版社", "作家出版社", "译林出版社"]
PLACES = ["杭州", "上海", "广州", "成都"]
SCHOOLS = ["清华大学", "南开大学", "复旦大学"]


def _sample(i, text, triples):
    return Sample(text=text, triples=[Triple(*t) for t in triples], labelled=True, source=f"t:{i}", raw={})


def _corpus(n=60, seed=0):
    """Sentences with one subject and two objects, two subjects, and filler of varying length."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        filler = "据说" * rng.randint(0, 12)
        if i % 3 == 0:
            b, p, pr = rng.choice(BOOKS), rng.choice(PEOPLE), rng.choice(PRESSES)
            text = f"{filler}《{b}》是{p}创作的小说，由{pr}出版"
            triples = [(b, "作者", p), (b, "出版社", pr)]
        elif i % 3 == 1:
            p1, p2 = rng.sample(PEOPLE, 2)
            text = f"{p1}出生于{rng.choice(PLACES)}，{filler}{p2}毕业于{rng.choice(SCHOOLS)}"
            triples = [(p1, "出生地", text[len(p1) + 3:len(p1) + 5]), (p2, "毕业院校", text[-4:])]
        else:
            p, s = rng.choice(PEOPLE), rng.choice(SCHOOLS)
            text = f"{p}{filler}，毕业于{s}"
            triples = [(p, "毕业院校", s)]
        samples.append(_sample(i, text, triples))
    return samples


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


@pytest.fixture(scope="module")
def vocab(corpus):
    return CharVocab.build([s.text for s in corpus], min_count=1)


def _first_spans(sample, length):
    """{subject span: {(object span, p)}} by first occurrence, keeping triples inside ``length``."""
    out = {}
    for t in sample.triples:
        s, o = find_spans(sample.text, t.subject)[0], find_spans(sample.text, t.object)[0]
        if s[1] < length and o[1] < length:
            out.setdefault(s, set()).add((o, SCHEMA.index(t.predicate)))
    return out


# --- CharVocab -------------------------------------------------------------------------------------

def test_char_vocab_min_count_unknowns_and_round_trip(tmp_path):
    vocab = CharVocab.build(["aab", "abc", "a"], min_count=2)
    assert vocab.chars == ["a", "b"] and len(vocab) == 4
    assert vocab.encode("abcz").tolist() == [2, 3, UNK, UNK]
    assert vocab.encode("").dtype == np.int32
    vocab.save(tmp_path / "vocab.json")
    again = CharVocab.load(tmp_path / "vocab.json")
    assert again.chars == vocab.chars and again.min_count == 2
    assert again.encode("cab").tolist() == vocab.encode("cab").tolist()
    assert PAD not in vocab.encode("abcz")


def test_char_vocab_rejects_duplicates():
    with pytest.raises(ValueError):
        CharVocab(["a", "a"], 1)


# --- word vectors ----------------------------------------------------------------------------------

@pytest.fixture
def word_vectors(tmp_path):
    kv = KeyedVectors(3)
    kv.add_vectors(["鲁迅", "自传", "出版"], np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]], np.float32))
    path = save_vectors(kv, tmp_path / "w2v")
    calls = []

    def tokenize(texts):
        calls.extend(texts)
        return [t.replace("鲁迅", "|鲁迅|").replace("自传", "|自传|").replace("出版", "|出版|").split("|")
                for t in texts]

    return WordVectors(path, Segmenter("fake", "1", tokenize)), calls


def test_char_aligned_repeats_each_word_vector_over_its_chars(word_vectors):
    wv, calls = word_vectors
    out = wv.char_aligned("《鲁迅自传》出版了")
    assert out.dtype == np.float32 and out.shape == (9, 3) and wv.dim == 3
    assert out[:, 0].tolist() == [0, 1, 1, 2, 2, 0, 3, 3, 0]   # 《 and 》 and 了: unknown words -> zeros
    assert np.array_equal(wv.char_aligned("《鲁迅自传》出版了"), out)
    assert calls == ["《鲁迅自传》出版了"]                       # memoised: segmented once
    wv.char_aligned("鲁迅", remember=False)
    wv.char_aligned("鲁迅", remember=False)
    assert calls.count("鲁迅") == 2


def test_no_word_vectors_are_zeros():
    out = NoWordVectors(5).char_aligned("abc")
    assert out.shape == (3, 5) and out.dtype == np.float32 and not out.any()
    assert NoWordVectors(0).char_aligned("abc").shape == (3, 0)
    with pytest.raises(ValueError):
        NoWordVectors(-1)


# --- Encoder: prediction inputs --------------------------------------------------------------------

def test_encode_inputs_pads_clips_and_accepts_plain_texts(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(4), SCHEMA, max_len=20)
    samples = [corpus[0], "张三丰", corpus[3]]
    x = enc.encode_inputs(samples)
    length = min(20, max(len(corpus[0].text), len(corpus[3].text)))
    assert x["chars"].shape == (3, length) and x["chars"].dtype == np.int32
    assert x["words"].shape == (3, length, 4) and x["subject_prior"].shape == (3, length, 2)
    assert ((x["chars"] != PAD).sum(axis=1) == [min(20, len(enc._text(s))) for s in samples]).all()
    assert x["chars"][1].tolist() == vocab.encode("张三丰").tolist() + [PAD] * (length - 3)
    assert not x["subject_prior"].any()
    assert enc.stats["texts_clipped"] == sum(len(enc._text(s)) > 20 for s in samples)


def test_encode_inputs_prior_features(vocab, corpus):
    kb = KnowledgeBase.build(corpus, SCHEMA)
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=200, prior=kb)
    sample = corpus[0]
    cands = enc.prior_candidates([sample])
    x = enc.encode_inputs([sample])
    subject = find_spans(sample.text, sample.triples[0].subject)[0]
    assert x["subject_prior"][0, subject[0], 0] == 1 and x["subject_prior"][0, subject[1], 1] == 1
    obj = enc.object_prior(cands, [0], [subject], x["chars"].shape[1])
    assert obj.shape == (1, x["chars"].shape[1], 2 * C) and obj.any()
    assert not enc.object_prior(None, [0], [subject], 7).any()


# --- Encoder: training batches ---------------------------------------------------------------------

def _collect(enc, samples, **kw):
    kw = {"shuffle": True, "seed": 3, "epoch": 0, "augment": False, "augment_rate": 0.5, **kw}
    return list(enc.batches(samples, 8, **kw))


def test_batch_shapes_padding_and_masks(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(4), SCHEMA, max_len=512)
    for inputs, targets in _collect(enc, corpus, shuffle=False):
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
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    batches = _collect(enc, corpus)
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
    enc = Encoder(CharVocab.build([s.text for s in corpus], min_count=1), NoWordVectors(2), SCHEMA, max_len=512)
    batches = _collect(enc, corpus, augment=True, augment_rate=1.0)
    assert enc.stats["augmented"] > 0
    lengths = sorted(int(n) for inputs, _ in batches for n in (inputs["chars"] != PAD).sum(1))
    assert lengths != sorted(len(s.text) for s in corpus)            # augmentation changed some lengths
    assert len(lengths) == len(corpus)
    ranges = sorted(((inputs["chars"] != PAD).sum(1).min(), (inputs["chars"] != PAD).sum(1).max())
                    for inputs, _ in batches)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))     # one chunk: sorted, no overlap


def test_batches_over_several_chunks(vocab, corpus, monkeypatch):
    """Chunks of BUCKET_BATCHES batches: each sample once, each chunk's batches together and sorted by
    length, only the very last batch short."""
    import dgcnn_ie.features as features
    monkeypatch.setattr(features, "BUCKET_BATCHES", 2)
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    batches = list(enc.batches(corpus, 7, shuffle=True, seed=1, epoch=0, augment=False, augment_rate=0.5))
    sizes = [len(inputs["chars"]) for inputs, _ in batches]
    assert sizes == [7] * (len(corpus) // 7) + [len(corpus) % 7] and enc.stats["samples"] == len(corpus)
    rows = sorted(tuple(r[r != PAD]) for inputs, _ in batches for r in inputs["chars"])
    assert rows == sorted(tuple(vocab.encode(s.text)) for s in corpus)
    for c in range(0, len(batches), 2):                  # a chunk's two batches: sorted, no overlap
        chunk = [(inputs["chars"] != PAD).sum(1) for inputs, _ in batches[c:c + 2]]
        ranges = sorted((n.min(), n.max()) for n in chunk)
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


def test_batches_deterministic_by_seed_and_epoch(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)

    def flat(batches):
        return [a for inputs, targets in batches for d in (inputs, targets) for a in d.values()]

    first = flat(_collect(enc, corpus, augment=True))
    again = flat(_collect(enc, corpus, augment=True))
    assert len(first) == len(again) and all(np.array_equal(a, b) for a, b in zip(first, again))
    other = flat(_collect(enc, corpus, augment=True, epoch=1))
    assert len(other) != len(first) or not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_targets_follow_the_sampled_subject_and_negatives_occur(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    negatives = positives = 0
    for epoch in range(4):
        k = 0
        for inputs, targets in _collect(enc, corpus, shuffle=False, epoch=epoch):
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
    assert enc.stats["negative_subjects"] == negatives


def test_clipping_drops_and_counts_labels_beyond_max_len(vocab):
    text = "张三丰毕业于清华大学" + "据说" * 20 + "李四光毕业于南开大学"
    sample = _sample(0, text, [("张三丰", "毕业院校", "清华大学"), ("李四光", "毕业院校", "南开大学")])
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=30)
    (inputs, targets), = _collect(enc, [sample])
    assert inputs["chars"].shape == (1, 30)
    assert np.flatnonzero(targets["subject_start"][0]).tolist() == [0]
    assert tuple(inputs["subject_span"][0]) == (0, 2)
    assert np.flatnonzero(targets["object_end"][0][:, SCHEMA.index("毕业院校")]).tolist() == [9]
    assert enc.stats["triples_beyond_max_len"] == 1 and enc.stats["triples"] == 1
    assert enc.stats["texts_clipped"] == 1


def test_a_clipped_text_is_counted_once_however_often_it_is_encoded(vocab, corpus):
    """Training re-encodes every sample every epoch (augmented or not) and dev decoding re-encodes too:
    `texts_clipped` counts the distinct long texts, not their encodings."""
    long = {s.text for s in corpus if len(s.text) > 25}
    assert 0 < len(long) < len(corpus)
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=25)
    for epoch in (1, 2):
        _collect(enc, corpus, epoch=epoch, augment=True, augment_rate=1.0)
        enc.encode_inputs(corpus)
    assert enc.stats["samples"] == 2 * len(corpus) and enc.stats["augmented"] > 0   # per-epoch counts still grow
    assert enc.stats["texts_clipped"] == len(long) and enc.clipped_texts == long


def test_sample_without_located_triples_is_an_all_negative_example(vocab):
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=5)
    sample = _sample(0, "张三丰毕业于清华大学", [("张三丰", "毕业院校", "清华大学")])
    (inputs, targets), = _collect(enc, [sample])
    assert tuple(inputs["subject_span"][0]) == (0, 0)
    assert not any(t.any() for t in targets.values()) and enc.stats["no_subject"] == 1


def test_augmentation_keeps_spans_inside_the_text_and_consistent(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    subjects = {t.subject for s in corpus for t in s.triples}
    objects = {(t.object, SCHEMA.index(t.predicate)) for s in corpus for t in s.triples}
    texts = set()
    for inputs, targets in _collect(enc, corpus, shuffle=False, augment=True, augment_rate=1.0):
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
    assert enc.stats["augmented"] > len(corpus) // 2
    assert len(texts - {s.text for s in corpus}) >= enc.stats["augmented"] // 2   # texts really changed
    assert enc.stats["augmented"] + enc.stats["augment_skipped"] == len(corpus)


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
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512, prior=kb)
    given = _collect(enc, corpus, kb_candidates=cands)
    computed = _collect(enc, corpus)
    assert all(np.array_equal(a[0][k], b[0][k]) for a, b in zip(given, computed) for k in a[0])
    assert any(inputs["subject_prior"].any() for inputs, _ in given)
    assert any(inputs["object_prior"].any() for inputs, _ in given)
    plain = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    assert not any(inputs["subject_prior"].any() or inputs["object_prior"].any()
                   for inputs, _ in _collect(plain, corpus))
    with pytest.raises(ValueError, match="prior=kb"):
        plain.batches(corpus, 8, shuffle=True, seed=0, epoch=0, augment=True, augment_rate=0.5, kb_candidates=cands)


def test_batches_use_word_vectors(vocab, corpus, word_vectors):
    wv, _ = word_vectors
    enc = Encoder(vocab, wv, SCHEMA, max_len=512)
    inputs, _ = _collect(enc, corpus[:4], shuffle=False)[0]
    for i, sample in enumerate(corpus[:4]):
        assert np.array_equal(inputs["words"][i, :len(sample.text)], wv.char_aligned(sample.text))


def test_bad_batch_requests_raise(vocab, corpus):
    enc = Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=512)
    unlabelled = Sample("张三丰", [], labelled=False, source="x:1", raw={})
    with pytest.raises(ValueError, match="no labels"):
        enc.batches([unlabelled], 8, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        enc.batches(corpus, 0, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5)
    with pytest.raises(ValueError, match="candidate lists"):
        enc.batches(corpus, 8, shuffle=False, seed=0, epoch=0, augment=False, augment_rate=0.5, kb_candidates=[[]])
    with pytest.raises(ValueError, match="max_len"):
        Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=0)
