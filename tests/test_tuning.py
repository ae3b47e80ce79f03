"""tuning.py against decode.extract on a hand-made numpy probability model."""
import numpy as np
import pytest

from dgcnn_ie.data import Schema, Triple
from dgcnn_ie.decode import Thresholds, extract
from dgcnn_ie.tuning import best_thresholds, make_grid, score_sweep, sweep_predictions, threshold_sweep

SCHEMA = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")], "国籍": [("人物", "国家")]}, {})
C = len(SCHEMA)


class RandomModel:
    """Seeded probabilities: subjects per text, objects per (text, subject span) (so they depend on the subject).

    ``inputs`` is the list of batch texts; probabilities are a function of the text and span only.
    """

    def __init__(self, length=12):
        self.length = length
        self.object_keys = []

    def subject_probs(self, texts):
        start = np.zeros((len(texts), self.length), np.float32)
        end = np.zeros_like(start)
        for i, t in enumerate(texts):
            rng = np.random.default_rng([sum(map(ord, t)), 1])
            start[i] = rng.random(self.length) ** 2
            end[i] = rng.random(self.length) ** 2
        return start, end

    def object_probs(self, texts, rows, spans):
        self.object_keys += [(texts[r], tuple(int(x) for x in s)) for r, s in zip(rows, spans)]
        start = np.zeros((len(rows), self.length, C), np.float32)
        end = np.zeros_like(start)
        for n, (r, (s, e)) in enumerate(zip(rows, spans)):
            rng = np.random.default_rng([sum(map(ord, texts[r])), int(s), int(e), 2])
            start[n] = rng.random((self.length, C)) ** 3
            end[n] = rng.random((self.length, C)) ** 3
        return start, end


TEXTS = ["鲁迅自传由江苏文艺出版社出版", "周杰伦是中国台湾歌手", "短句", "《围城》的作者是钱钟书，人民文学出版社出版", ""]
GRID = make_grid([0.3, 0.5, 0.7], [0.2, 0.4, 0.6])


def batches(texts, size=2):
    return [(texts[i:i + size], texts[i:i + size]) for i in range(0, len(texts), size)]


def test_make_grid_sorts_dedups_and_checks_range():
    assert make_grid([0.5, 0.3, 0.5], [0.4]) == [(0.3, 0.4), (0.5, 0.4)]
    with pytest.raises(ValueError):
        make_grid([], [0.4])
    with pytest.raises(ValueError):
        make_grid([0.0], [0.4])


def test_every_grid_point_equals_extract_at_those_thresholds():
    preds = sweep_predictions(RandomModel(), batches(TEXTS), SCHEMA, GRID, object_batch_size=3)
    assert len(preds) == len(GRID)
    distinct = set()
    for (st, et), pred in zip(GRID, preds):
        expected = []
        for inputs, texts in batches(TEXTS):
            expected += extract(RandomModel(), inputs, texts, SCHEMA, Thresholds(st, et))
        assert pred == expected
        distinct.add(tuple(frozenset(p) for p in pred))
    assert len(distinct) > 3          # the grid really changes the output
    assert any(preds[0])              # and the lowest thresholds find triples


def test_object_probabilities_computed_once_per_row_and_subject():
    model = RandomModel()
    sweep_predictions(model, batches(TEXTS), SCHEMA, GRID)
    assert model.object_keys
    assert len(model.object_keys) == len(set(model.object_keys))


def test_sweep_scores_and_best_thresholds():
    model = RandomModel()
    gold = []
    for inputs, texts in batches(TEXTS):
        gold += extract(model, inputs, texts, SCHEMA, Thresholds(0.5, 0.4))
    sweep = threshold_sweep(model, batches(TEXTS), gold, SCHEMA, GRID)
    assert [(r["start_threshold"], r["end_threshold"]) for r in sweep] == GRID
    at_default = next(r for r in sweep if (r["start_threshold"], r["end_threshold"]) == (0.5, 0.4))
    assert at_default["f1"] == at_default["precision"] == at_default["recall"] == 1.0
    assert any(r["f1"] < 1.0 for r in sweep)
    best = best_thresholds(sweep)
    assert best["f1"] == 1.0
    assert best is next(r for r in sweep if r["f1"] == 1.0)   # ties: the first row


def test_best_prefers_precision_on_equal_f1():
    sweep = [{"start_threshold": 0.3, "end_threshold": 0.3, "precision": 0.5, "recall": 1.0, "f1": 0.6},
             {"start_threshold": 0.5, "end_threshold": 0.3, "precision": 0.7, "recall": 0.5, "f1": 0.6},
             {"start_threshold": 0.7, "end_threshold": 0.3, "precision": 0.9, "recall": 0.1, "f1": 0.2}]
    assert best_thresholds(sweep)["start_threshold"] == 0.5
    with pytest.raises(ValueError):
        best_thresholds([])


def test_score_sweep_checks_lengths_and_counts():
    gold = [{Triple("a", "作者", "b")}, set()]
    preds = [[{Triple("a", "作者", "b")}, {Triple("x", "国籍", "y")}], [set(), set()]]
    rows = score_sweep(gold, preds, [(0.4, 0.4), (0.6, 0.4)], "lic2019")
    assert (rows[0]["tp"], rows[0]["n_pred"], rows[0]["n_gold"]) == (1, 2, 1)
    assert rows[1]["recall"] == 0.0
    with pytest.raises(ValueError):
        score_sweep(gold, preds[:1], [(0.4, 0.4), (0.6, 0.4)], "lic2019")
    with pytest.raises(ValueError):
        threshold_sweep(RandomModel(), batches(TEXTS), gold, SCHEMA, GRID)
