"""metrics.py: hand-made cases with known answers."""

import json

import numpy as np
import pytest

from dgcnn_ie.data import Triple
from dgcnn_ie.metrics import score, write_metrics

A = Triple("呐喊", "作者", "鲁迅")
B = Triple("呐喊", "出版社", "人民文学出版社")
C = Triple("彷徨", "作者", "鲁迅")


def test_known_micro_scores_and_per_predicate():
    gold = [{A, B}, {C}]
    pred = [{A, C}, {C, B}]
    m = score(gold, pred, "lic2019")
    assert (m["tp"], m["n_pred"], m["n_gold"]) == (2, 4, 3)
    assert m["precision"] == 0.5 and m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(4 / 7)
    assert m["per_predicate"] == {
        "作者": {"precision": 2 / 3, "recall": 1.0, "f1": pytest.approx(0.8), "support": 2},
        "出版社": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }


def test_zero_predictions_and_empty_gold_give_zero_not_errors():
    m = score([{A}, set()], [set(), set()], "lic2019")
    assert (m["precision"], m["recall"], m["f1"], m["tp"], m["n_pred"]) == (0.0, 0.0, 0.0, 0, 0)
    assert m["per_predicate"]["作者"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert score([], [], "duie2")["f1"] == 0.0


def test_perfect_and_duplicates_count_once():
    m = score([{A, B}], [[A, A, B]], "lic2019")
    assert (m["precision"], m["recall"], m["f1"], m["n_pred"]) == (1.0, 1.0, 1.0, 2)


def test_same_triple_in_another_sentence_does_not_match():
    m = score([{A}, set()], [set(), {A}], "lic2019")
    assert m["tp"] == 0 and m["n_pred"] == 1 and m["n_gold"] == 1


def test_duie_scored_on_complete_complex_spo():
    base, slot = Triple("胡歌", "饰演", "李逍遥"), Triple("胡歌", "饰演_inWork", "仙剑奇侠传")
    gold = [{base, slot, Triple("仙剑奇侠传", "主演", "胡歌")}]
    wrong_slot = [{base, Triple("胡歌", "饰演_inWork", "天外飞仙"), Triple("仙剑奇侠传", "主演", "胡歌")}]
    m = score(gold, wrong_slot, "duie2")
    assert (m["tp"], m["n_pred"], m["n_gold"]) == (1, 2, 2)
    assert m["per_predicate"]["饰演"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert "饰演_inWork" not in m["per_predicate"]
    missing_slot = score(gold, [{base}], "duie2")
    assert missing_slot["tp"] == 0 and missing_slot["n_pred"] == 1
    assert score(gold, gold, "duie2")["f1"] == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 gold sets but 1"):
        score([set(), set()], [set()], "lic2019")
    with pytest.raises(ValueError, match="unknown data format"):
        score([], [], "lic2020")


def test_write_metrics_rounds_and_is_json(tmp_path):
    path = tmp_path / "m" / "metrics.json"
    write_metrics(path, {"f1": 2 / 3, "n": 3, "per": {"x": {"p": np.float32(0.1234567)}}, "curve": [1 / 3]})
    assert json.loads(path.read_text()) == {"f1": 0.666667, "n": 3, "per": {"x": {"p": 0.123457}}, "curve": [0.333333]}
