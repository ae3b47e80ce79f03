"""The hierarchical ensemble on hand-made probability models: averaging, union, loading once, the
submitted system's members, the CV layout."""
import json

import numpy as np
import pytest

from conftest import repo_params
from dgcnn_ie import ensemble, layout
from dgcnn_ie.config import ConfigError, config_from_dict
from dgcnn_ie.data import DataError, Schema, Triple, read_dataset, read_predictions, write_predictions
from dgcnn_ie.decode import Thresholds

SCHEMA = Schema("lic2019", {"作者": [("图书作品", "人物")], "出版社": [("书籍", "出版社")]}, {})
C = len(SCHEMA)                       # predicates sorted: 作者 (0), 出版社 (1)
T0 = "《鲁迅自传》由江苏文艺出版社出版"   # 鲁迅自传 = 1..4, 江苏文艺出版社 = 7..13, 鲁迅 = 1..2
T1 = "《野草》作者鲁迅"                  # 野草 = 1..2, 鲁迅 = 6..7


class TableModel:
    """A probability model over TextBatch inputs: per text, subject start/end marks and, per subject
    span, object start/end marks per predicate index (all other probabilities 0)."""

    def __init__(self, table):
        self.table = table   # text -> (p, {subject_span: {c: (object_span, p)}}) with subjects {span: p}

    def subject_probs(self, batch):
        length = max(len(t) for t in batch.texts)
        start, end = np.zeros((len(batch.texts), length)), np.zeros((len(batch.texts), length))
        for i, text in enumerate(batch.texts):
            for (s, e), p in self.table.get(text, ({}, {}))[0].items():
                start[i, s], end[i, e] = p, p
        return start, end

    def object_probs(self, batch, rows, spans):
        length = max(len(t) for t in batch.texts)
        start, end = np.zeros((len(rows), length, C)), np.zeros((len(rows), length, C))
        for n, (row, span) in enumerate(zip(rows, spans)):
            objects = self.table.get(batch.texts[row], ({}, {}))[1].get(tuple(int(x) for x in span), {})
            for c, ((s, e), p) in objects.items():
                start[n, s, c], end[n, e, c] = p, p
        return start, end


A = TableModel({T0: ({(1, 4): 0.9}, {(1, 4): {1: ((7, 13), 0.9), 0: ((1, 2), 0.6)}}),
                T1: ({(1, 2): 0.9}, {(1, 2): {0: ((6, 7), 0.9)}})})
B = TableModel({T0: ({(1, 4): 0.3}, {(1, 4): {1: ((7, 13), 0.2), 0: ((1, 2), 0.6)}}),
                T1: ({(1, 2): 0.05}, {(1, 2): {0: ((6, 7), 0.9)}})})
THR = Thresholds(0.5, 0.4)
PUB = Triple("鲁迅自传", "出版社", "江苏文艺出版社")
AUTHOR0 = Triple("鲁迅自传", "作者", "鲁迅")
AUTHOR1 = Triple("野草", "作者", "鲁迅")


def test_single_models():
    assert ensemble.predict([A], [T0, T1], SCHEMA, THR, 2) == [{PUB, AUTHOR0}, {AUTHOR1}]
    assert ensemble.predict([B], [T0, T1], SCHEMA, THR, 2) == [set(), set()]


def test_average_is_over_probabilities_not_votes():
    # subject of T0: (0.9 + 0.3) / 2 = 0.6 -> decoded; its 出版社 object (0.9 + 0.2) / 2 = 0.55 -> kept;
    # subject of T1: (0.9 + 0.05) / 2 = 0.475 < 0.5 -> gone with its object although both models agree on it
    assert ensemble.predict([A, B], [T0, T1], SCHEMA, THR, 1) == [{PUB, AUTHOR0}, set()]
    assert ensemble.predict([A, B], [T0, T1], SCHEMA, Thresholds(0.45, 0.4), 2) == [{PUB, AUTHOR0}, {AUTHOR1}]
    assert ensemble.predict([A, B], [T0], SCHEMA, Thresholds(0.5, 0.58), 1) == [{AUTHOR0}]


def test_union():
    assert ensemble.union([[{PUB}, set()], [{PUB, AUTHOR0}, {AUTHOR1}]]) == [{PUB, AUTHOR0}, {AUTHOR1}]
    with pytest.raises(ValueError, match="different lengths"):
        ensemble.union([[set()], [set(), set()]])
    with pytest.raises(ValueError):
        ensemble.union([])


def test_each_model_is_loaded_once():
    calls = []

    def loader(d):
        calls.append(str(d))
        return TableModel({})

    dirs = ["models/cv/plain/fold0", "models/cv/plain/fold1", "models/cv/plain/fold0", "models/cv/prior/fold0"]
    loaded = ensemble.load_models(dirs, loader)
    assert calls == ["models/cv/plain/fold0", "models/cv/plain/fold1", "models/cv/prior/fold0"]
    assert loaded["models/cv/plain/fold0"] is loaded[dirs[2]]


def test_system_members():
    families, folds = ["plain", "prior"], [0, 2, 3]
    assert ensemble.system_members("single", families, folds) == {"plain": [0]}
    assert ensemble.system_members("average", families, folds) == {"plain": [0, 2, 3]}
    assert ensemble.system_members("union", families, folds) == {"plain": [0, 2, 3], "prior": [0, 2, 3]}
    with pytest.raises(ValueError, match="ensemble.mode"):
        ensemble.system_members("vote", families, folds)


def test_layout():
    assert str(layout.cv_raw(3).model_dir) == "models/cv_raw/fold3"
    assert str(layout.cv("prior", 0).model_dir) == "models/cv/prior/fold0"
    assert str(layout.cv("plain", 1).predictions_dir) == "predictions/cv/plain/fold1"
    assert str(layout.cv_raw(2).report_path) == "reports/cv_raw/fold2.json"
    assert str(layout.cv_raw(2).history_dir) == "reports/cv_raw/fold2"
    assert (layout.cv_raw(0).name, layout.cv("prior", 0).name) == ("cv_raw", "cv/prior")
    # a family must be declared under `families` to be trained (the config refuses the rest)
    with pytest.raises(ConfigError, match="cv.families"):
        config_from_dict(repo_params({"cv": {"families": ["plain", "other"]}}))


def test_read_predictions_checks_the_samples(tmp_path):
    src = tmp_path / "t.json"
    src.write_text("".join(json.dumps({"text": t, "spo_list": []}, ensure_ascii=False) + "\n" for t in (T0, T1)),
                   encoding="utf-8")
    samples, _ = read_dataset(src, SCHEMA)
    pred = tmp_path / "p.json"
    write_predictions(pred, samples, [{PUB}, {AUTHOR1}], SCHEMA)
    assert read_predictions(pred, samples, SCHEMA, "none") == [{PUB}, {AUTHOR1}]
    with pytest.raises(DataError, match="2 predicted lines for 1 samples"):
        read_predictions(pred, samples[:1], SCHEMA, "none")
    with pytest.raises(DataError, match=r"p.json:1: text differs from .*t.json:2"):
        read_predictions(pred, samples[::-1], SCHEMA, "none")
