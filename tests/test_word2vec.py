"""word2vec stage: trains on all texts, byte-identical outputs for a seed, clear errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import pickle_payload, write_params
from gensim.models import KeyedVectors

from dgcnn_ie import layout
from dgcnn_ie.config import ConfigError, load_config
from dgcnn_ie.data import DataError, load_schema
from dgcnn_ie.segment import get_segmenter
from dgcnn_ie.stages.runner import run_stage
from dgcnn_ie.word2vec import (extra_text_files, load_vectors, read_corpus_texts, save_vectors, segment_corpus,
                               train_vectors)

SCHEMA = [{"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"},
          {"subject_type": "人物", "predicate": "出生地", "object_type": "地点"}]
PEOPLE = ["鲁迅", "老舍", "巴金", "茅盾", "冰心"]
PLACES = ["绍兴", "北京", "成都", "桐乡", "福州"]


DEV_TEXTS = ["老舍出生于北京", "巴金出生于成都"]


def _write_corpus(root, include_test=True):
    """The prepared data files the stage reads (`layout.PREPARED_*`; the test texts as prepare writes them
    with `word2vec.include_test`, or empty) and an extra-text folder."""
    (root / "data/prepared").mkdir(parents=True)
    with open(root / layout.PREPARED_SCHEMA, "w", encoding="utf-8") as f:
        for entry in SCHEMA:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    with open(root / layout.PREPARED_TRAIN, "w", encoding="utf-8") as f:
        for i in range(40):
            p, c = PEOPLE[i % 5], PLACES[(i * 3) % 5]
            text = f"{p}出生于{c}，是中国现代著名作家，第{i}篇文章"
            f.write(json.dumps({"text": text, "spo_list": [{"subject": p, "predicate": "出生地", "object": c}]},
                               ensure_ascii=False) + "\n")
        f.write("this line is not json\n")
    with open(root / layout.PREPARED_DEV, "w", encoding="utf-8") as f:
        for text in DEV_TEXTS:
            f.write(json.dumps({"text": text, "spo_list": []}, ensure_ascii=False) + "\n")
    with open(root / layout.PREPARED_TEST_TEXTS, "w", encoding="utf-8") as f:
        f.writelines(f"《呐喊》的作者是{p}\n" for p in (PEOPLE if include_test else []))
    (root / "data/extra").mkdir()
    (root / "data/extra/news.txt").write_text("鲁迅和老舍都是作家\n\n巴金出生于成都\n", encoding="utf-8")


def _params(root, name="params.yaml", seed=42, normalize="none", **w2v):
    return write_params(root / name, {
        "seed": seed,
        "data": {"format": "lic2019", "normalize": normalize, "on_error": "skip"},
        "segment": {"backend": "jieba", "cache": ".cache/segment.sqlite"},
        "word2vec": {"dim": 8, "window": 3, "min_count": 1, "epochs": 3, "negative": 3,
                     "extra_dir": "data/extra", **w2v}})


@pytest.fixture
def project(tmp_path, monkeypatch):
    _write_corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _outputs(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for d in ("models/word2vec", "reports/word2vec") for p in sorted((root / d).iterdir())}


def test_stage_outputs_and_stats(project):
    _params(project, "other.yaml")
    stats = run_stage("word2vec", "other.yaml")
    assert stats == json.loads((project / "reports/word2vec/stats.json").read_text())
    assert stats["sentences"] == 40 + 2 + 5 + 2
    assert stats["train_texts"] == 40 and stats["dev_texts"] == 2 and stats["test_texts"] == 5
    assert stats["data_lines_skipped"] == 1 and stats["extra_texts"] == 2 and stats["extra_blank_lines"] == 1
    table = load_vectors(project / "models/word2vec")
    assert table.dim == 8 == stats["dim"] and len(table.words) == stats["vocab_size"]
    assert "鲁迅" in table.words and "呐喊" in table.words   # test-file and train-file words
    assert sorted(p.name for p in (project / "models/word2vec").iterdir()) == ["vectors.npy", "words.json"]
    assert not [p for p in (project / "models").iterdir() if p.name != "word2vec"]   # no temp folder left


def test_default_corpus_leaves_the_test_texts_out(tmp_path, monkeypatch):
    _write_corpus(tmp_path, include_test=False)
    monkeypatch.chdir(tmp_path)
    _params(tmp_path)
    stats = run_stage("word2vec")
    assert stats["sentences"] == 40 + 2 + 2 and "test_texts" not in stats
    assert "呐喊" not in load_vectors(tmp_path / "models/word2vec").words


def test_same_seed_gives_byte_identical_files(project):
    _params(project)
    run_stage("word2vec")
    first = _outputs(project)
    run_stage("word2vec")
    assert _outputs(project) == first
    # a fresh interpreter with another hash seed: reproducibility does not hang on Python's str hashing
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "dgcnn_ie.stages", "word2vec", "--params", "params.yaml"], check=True,
                   env=env, capture_output=True)
    assert _outputs(project) == first


def test_other_seed_gives_other_vectors(project):
    _params(project, seed=1)
    run_stage("word2vec")
    a = load_vectors(project / "models/word2vec")
    _params(project, seed=2)
    run_stage("word2vec")
    b = load_vectors(project / "models/word2vec")
    assert a.words == b.words and a.digest != b.digest
    assert not np.allclose(a.vectors, b.vectors)


def test_read_corpus_normalizes_extra_texts(project):
    data = load_config(_params(project, normalize="lower")).data
    (project / "data/extra.txt").write_text("GV-971 ABC\n", encoding="utf-8")
    corpus = [("train", layout.PREPARED_TRAIN), ("dev", layout.PREPARED_DEV)]
    texts, counts = read_corpus_texts(corpus, load_schema(layout.PREPARED_SCHEMA, "lic2019"), data,
                                      ["data/extra.txt"], test_texts=layout.PREPARED_TEST_TEXTS)
    assert texts[-6] == "gv-971 abc" and counts["extra_texts"] == 1 and counts["test_texts"] == 5
    assert texts[-5:] == [f"《呐喊》的作者是{p.lower()}" for p in PEOPLE]


def test_extra_text_files_sorted_recursive_txt_only(tmp_path):
    (tmp_path / "b.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.txt").write_text("y\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not corpus\n", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in extra_text_files(tmp_path)] == ["b.txt", "sub/a.txt"]


def test_extra_text_files_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="word2vec.extra_dir: .*nowhere is not a folder"):
        extra_text_files(tmp_path / "nowhere")


def test_segment_corpus_drops_whitespace_tokens():
    sentences = segment_corpus(["鲁迅 出生于 绍兴", "   "], get_segmenter("jieba"))
    assert len(sentences) == 1 and "".join(sentences[0]) == "鲁迅出生于绍兴"
    assert "鲁迅" in sentences[0] and all(w.strip() for w in sentences[0])


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="empty"):
        train_vectors([], dim=4, window=2, min_count=1, epochs=1, negative=2, seed=0)
    with pytest.raises(ValueError, match="negative"):
        train_vectors([["a", "b"]], dim=4, window=2, min_count=1, epochs=1, negative=0, seed=0)
    with pytest.raises(ValueError, match="min_count"):
        train_vectors([["a", "b"]], dim=4, window=2, min_count=5, epochs=1, negative=2, seed=0)


def test_missing_or_corrupt_vectors_file_explains(tmp_path):
    with pytest.raises(DataError, match="vectors.npy:1: no word vectors there; run the word2vec stage"):
        load_vectors(tmp_path)
    kv = KeyedVectors(3)
    kv.add_vectors(["鲁迅", "自传"], np.array([[1, 1, 1], [2, 2, 2]], np.float32))
    save_vectors(kv, tmp_path / "w2v")
    data = (tmp_path / "w2v/vectors.npy").read_bytes()
    (tmp_path / "w2v/vectors.npy").write_bytes(data[:-5])                        # truncated
    with pytest.raises(DataError, match="w2v/vectors.npy:1: corrupt or unreadable word vectors"):
        load_vectors(tmp_path / "w2v")
    (tmp_path / "w2v/vectors.npy").write_bytes(data)
    words = json.loads((tmp_path / "w2v/words.json").read_text(encoding="utf-8"))
    for bad, match in ((dict(words, words=["鲁迅"]), "words: 1 words of dim 3 for 2 vectors"),
                       (dict(words, words=["鲁迅", "鲁迅"]), "every word must be a distinct non-empty string"),
                       (dict(words, version=0), "version: a word list of version 1"),
                       (dict(words, extra=1), "version: a word list of version 1")):
        (tmp_path / "w2v/words.json").write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(DataError, match=match):
            load_vectors(tmp_path / "w2v")


def test_vectors_round_trip_without_pickle(tmp_path):
    """vectors.npy + words.json hold the same rows as gensim's vectors, words with spaces included (the
    reason for JSON rather than word2vec's whitespace-split text format)."""
    kv = KeyedVectors(2)
    kv.add_vectors(["a b", "鲁迅", " "], np.array([[1, 2], [3, 4], [5, 6]], np.float32))
    save_vectors(kv, tmp_path / "w2v")
    table = load_vectors(tmp_path / "w2v")
    assert table.words == ("a b", "鲁迅", " ")
    np.testing.assert_array_equal(table.vectors, kv.vectors)
    assert np.load(tmp_path / "w2v/vectors.npy", allow_pickle=False).dtype == np.float32


def test_a_folder_in_gensim_pickle_format_is_refused_without_unpickling(tmp_path):
    """An earlier version's models/word2vec/vectors.kv (a pickle) is refused in one line that says how to
    re-create it, and the pickle never runs (its payload would write a marker file)."""
    marker = tmp_path / "ran"
    (tmp_path / "w2v").mkdir()
    (tmp_path / "w2v/vectors.kv").write_bytes(pickle_payload(marker))
    for path in (tmp_path / "w2v", tmp_path / "w2v/vectors.kv"):
        with pytest.raises(DataError, match="gensim's pickled format .* re-create them with this version"):
            load_vectors(path)
    assert not marker.exists()