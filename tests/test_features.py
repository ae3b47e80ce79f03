"""Char vocabulary, char-aligned word vectors, and the Encoder's prediction inputs (training batches:
test_batches.py)."""

import random

import numpy as np
import pytest
from gensim.models import KeyedVectors

from dgcnn_ie.data import Sample, Schema, Triple, find_spans
from dgcnn_ie.features import PAD, UNK, CharVocab, Encoder, NoWordVectors, WordVectors
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

def _word_vectors(tmp_path):
    """Vectors of three words and a fake segmenter recording what it cut."""
    kv = KeyedVectors(3)
    kv.add_vectors(["鲁迅", "自传", "出版"], np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]], np.float32))
    path = save_vectors(kv, tmp_path / "w2v")
    calls = []

    def tokenize(texts):
        calls.extend(texts)
        return [t.replace("鲁迅", "|鲁迅|").replace("自传", "|自传|").replace("出版", "|出版|").split("|")
                for t in texts]

    return WordVectors(path, Segmenter("fake", "1", tokenize)), calls


@pytest.fixture
def word_vectors(tmp_path):
    return _word_vectors(tmp_path)


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


def test_encoder_rejects_a_max_len_below_one(vocab):
    with pytest.raises(ValueError, match="max_len"):
        Encoder(vocab, NoWordVectors(2), SCHEMA, max_len=0)
