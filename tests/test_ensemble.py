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


# ------------------------------------------------------------------ system.Predictor: any sub-system, one code path
class Recorder(TableModel):
    """A TableModel that records the candidates of every batch it encodes (what an Extractor reads)."""

    max_len = 100

    def __init__(self, table):
        super().__init__(table)
        self.seen, self.batches = [], 0

    def subject_probs(self, batch):
        self.batches += 1
        self.seen.append(batch.candidates)
        return super().subject_probs(batch)


class FakeKB:
    """`prior.KnowledgeBase.candidates` of a fold: one marker candidate naming the fold and the text's length."""

    def __init__(self, fold):
        self.fold = fold

    def candidates(self, text):
        return [((0, 0), self.fold, (0, len(text) - 1))]


class OnceRules:
    """A RuleSet that records the triples it was applied to (once per system)."""

    def __init__(self):
        self.calls = []

    def apply_each(self, texts, predictions):
        self.calls.append(predictions)
        return [p | {Triple("rule", "作者", t[:1])} for t, p in zip(texts, predictions)]


def _models():
    return {"plain": {0: Recorder(A.table), 1: Recorder(B.table)}, "prior": {0: Recorder(A.table)}}


def test_predictor_averages_once_per_family_and_applies_the_rules_once_to_the_union():
    from dgcnn_ie.system import Predictor
    models, rules = _models(), OnceRules()
    predictor = Predictor(models, ["prior"], SCHEMA, THR, 2, rules)
    systems = {"single": {"plain": [0]}, "average/plain": {"plain": [0, 1]},
               "union": {"plain": [0, 1], "prior": [0]}, "submitted": {"plain": [0, 1], "prior": [0]}}
    cands = [[((1, 4), 1, (7, 13))], []]
    preds = predictor.predict_systems([T0, T1], systems, candidates=cands)
    rule = [Triple("rule", "作者", "《")] * 2
    assert preds["single"] == [{PUB, AUTHOR0, rule[0]}, {AUTHOR1, rule[1]}]
    assert preds["average/plain"] == [{PUB, AUTHOR0, rule[0]}, {rule[1]}]        # test_average_is_over_probabilities
    assert preds["union"] == preds["submitted"] == [{PUB, AUTHOR0, rule[0]}, {AUTHOR1, rule[1]}]
    assert [len(c) for c in rules.calls] == [2] * 4 and Triple("rule", "作者", "《") not in set().union(*rules.calls[2])
    # plain fold 0 ran once for single, once for the average (averaged with fold 1: another model) and the union
    # and submitted reused that average: 1 batch of 2 texts each time
    assert models["plain"][0].batches == 2 and models["plain"][1].batches == 1 and models["prior"][0].batches == 1
    assert models["plain"][0].seen == [None, None] and models["prior"][0].seen == [cands[::-1]]    # batches in length order
    assert predictor.predict([T0, T1], {"plain": [0]}) == preds["single"]


def test_predictor_gives_each_prior_fold_member_its_own_knowledge_base():
    """`prior.test_kb: fold`: the KBs are passed in, each member reads its fold's candidates of the text (clipped
    to its max_len, as `Encoder.prior_candidates` clips), and no candidates are shared."""
    from dgcnn_ie.extractor import TextBatch
    from dgcnn_ie.system import FoldPrior, Predictor
    models = _models()
    models["prior"][1] = Recorder(B.table)
    predictor = Predictor(models, ["prior"], SCHEMA, THR, 2, fold_kbs={0: FakeKB(0), 1: FakeKB(1)})
    assert isinstance(predictor.models["prior"][0], FoldPrior) and predictor.models["plain"][0] is models["plain"][0]
    predictor.predict([T0, T1], {"plain": [0], "prior": [0, 1]})
    assert models["plain"][0].seen == [None]
    for f in (0, 1):                             # batches in length order: T1, T0
        assert models["prior"][f].seen == [[FakeKB(f).candidates(T1), FakeKB(f).candidates(T0)]]
        assert models["prior"][f].batches == 1   # the object pass reuses the batch's candidates (one encoding)
    short = Recorder(A.table)
    short.max_len = 5                            # a text longer than the member reads: its clipped text's candidates
    FoldPrior(short, FakeKB(1)).subject_probs(TextBatch([T0]))
    assert short.seen == [[FakeKB(1).candidates(T0[:5])]]
    with pytest.raises(ValueError, match="fold's knowledge base"):
        predictor.predict([T0], {"prior": [0]}, candidates=[[]])
    with pytest.raises(ValueError, match=r"no knowledge base for fold\(s\) \[1\]"):
        Predictor(models, ["prior"], SCHEMA, THR, 2, fold_kbs={0: FakeKB(0)})
    with pytest.raises(ValueError, match="not both"):
        Predictor(models, ["prior"], SCHEMA, THR, 2, kb=FakeKB(0), fold_kbs={0: FakeKB(0), 1: FakeKB(1)})


def test_predictor_takes_shared_candidates_from_its_knowledge_base():
    from dgcnn_ie.system import Predictor
    models = _models()
    predictor = Predictor(models, ["prior"], SCHEMA, THR, 2, kb=FakeKB(7))
    predictor.predict([T0, T1], {"plain": [0]})
    assert models["plain"][0].seen == [None]                     # no prior family: no candidates computed
    predictor.predict([T0, T1], {"plain": [0], "prior": [0]})
    assert models["prior"][0].seen == [[FakeKB(7).candidates(T1), FakeKB(7).candidates(T0)]]
