"""Segmenter: exact round trip, in-memory and on-disk caches, clear errors for an unavailable backend."""

import pytest
from conftest import write_params

from dgcnn_ie.config import load_config
from dgcnn_ie.segment import (HANLP_MODEL_ENV, SegmentError, Segmenter, align_words, get_segmenter,
                              segmenter_from_config)

TEXTS = [
    "《鲁迅自传》由江苏文艺出版社出版",
    "GV-971由中国海洋大学、中国科学院上海药物研究所（下称“上海药物所”）联合研发",
    "  two  spaces\tand a tab, English and 中文 mixed 2019年 ",
    "周杰伦(Jay Chou)，1979年1月18日出生于台湾省新北市",
    "",
]


@pytest.fixture(scope="module")
def jieba_segmenter():
    return get_segmenter("jieba")


@pytest.mark.parametrize("text", TEXTS)
def test_jieba_words_rebuild_the_text(jieba_segmenter, text):
    words = jieba_segmenter.cut(text)
    assert "".join(words) == text
    assert all(words)


def test_jieba_splits_into_words(jieba_segmenter):
    words = jieba_segmenter.cut("《鲁迅自传》由江苏文艺出版社出版")
    assert "鲁迅" in words and len(words) > 3


def test_memory_cache_hit_and_remember_false():
    calls = []

    def tokenize(texts):
        calls.extend(texts)
        return [list(t) for t in texts]

    seg = Segmenter("chars", "1", tokenize)
    assert seg.cut("abc") == ["a", "b", "c"]
    assert seg.cut("abc") == ["a", "b", "c"]
    assert calls == ["abc"] and seg.hits == 1 and seg.misses == 1
    seg.cut("xyz", remember=False)
    seg.cut("xyz", remember=False)
    assert calls == ["abc", "xyz", "xyz"]


def test_cut_many_segments_each_distinct_text_once():
    calls = []

    def tokenize(texts):
        calls.append(list(texts))
        return [list(t) for t in texts]

    seg = Segmenter("chars", "1", tokenize)
    assert seg.cut_many(["ab", "cd", "ab"]) == [["a", "b"], ["c", "d"], ["a", "b"]]
    assert calls == [["ab", "cd"]]


def test_disk_cache_is_reused_by_a_new_segmenter(tmp_path):
    cache = tmp_path / "sub" / "seg.sqlite"
    with get_segmenter("jieba", cache) as first:
        expected = first.cut_many(TEXTS)
        assert first.misses == len(TEXTS)
    assert cache.is_file()
    with get_segmenter("jieba", cache) as second:
        assert second.cut_many(TEXTS) == expected
        assert second.misses == 0 and second.hits == len(TEXTS)


def test_disk_cache_is_keyed_by_backend_version(tmp_path):
    cache = tmp_path / "seg.sqlite"
    with Segmenter("chars", "1", lambda ts: [list(t) for t in ts], cache) as seg:
        seg.cut_many(["abcd", "ef"])
    with Segmenter("chars", "2", lambda ts: [[t] for t in ts], cache) as seg:
        assert seg.cut("abcd") == ["abcd"] and seg.misses == 1


def test_bad_tokenizer_output_raises():
    seg = Segmenter("lossy", "1", lambda ts: [[t[:-1]] for t in ts])
    with pytest.raises(SegmentError, match="do not rebuild"):
        seg.cut("abc")


def test_non_string_input_raises(jieba_segmenter):
    with pytest.raises(TypeError):
        jieba_segmenter.cut(None)


def test_align_words_restores_dropped_whitespace():
    assert align_words(" a b\t c ", ["a", "b", "c"]) == [" ", "a", " ", "b", "\t ", "c", " "]
    with pytest.raises(SegmentError):
        align_words("abc", ["a", "x"])
    with pytest.raises(SegmentError):
        align_words("abc", ["a"])


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown segment backend"):
        get_segmenter("nltk")


def test_hanlp_unavailable_explains_what_to_do(monkeypatch):
    monkeypatch.delenv(HANLP_MODEL_ENV, raising=False)
    with pytest.raises(SegmentError) as err:
        get_segmenter("hanlp")
    assert "pip install -e '.[hanlp]'" in str(err.value)
    assert HANLP_MODEL_ENV in str(err.value)


def test_segmenter_from_config(tmp_path):
    params = write_params(tmp_path / "params.yaml",
                          {"segment": {"backend": "jieba", "cache": str(tmp_path / "c.sqlite")}})
    seg = segmenter_from_config(load_config(params).segment)
    assert seg.name == "jieba" and "".join(seg.cut("中文分词")) == "中文分词"
    seg.close()
    assert (tmp_path / "c.sqlite").is_file()
