"""plots.py (PNGs written atomically and deterministically; predicate names never drawn as missing glyphs)
and the report stage that renders them."""
import dataclasses
import json
import shutil
import warnings

import matplotlib.image
import numpy as np
import pytest
import yaml

from conftest import repo_params, write_params
from dgcnn_ie import layout, plots
from dgcnn_ie.config import ConfigError, config_from_dict
from dgcnn_ie.data import find_spans, load_schema, read_dataset, write_predictions
from dgcnn_ie.stages import report
from dgcnn_ie.stages.runner import run_stage
from dgcnn_ie.tuning import Member, oof_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HISTORY = [{"epoch": 1, "loss": 0.9, "dev_f1": 0.1, "reloaded": False},
           {"epoch": 2, "loss": 0.5, "dev_f1": 0.4, "reloaded": True},
           {"epoch": 3, "loss": 0.4, "dev_f1": 0.5, "reloaded": False}]
PER_PREDICATE = {"作者": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 40},
                 "出版社": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4},
                 "饰演_inWork": {"precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 10}}


def check_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []   # no temp file left


@pytest.fixture
def no_cjk_font(monkeypatch):
    """Only the default font is available (whatever this machine has installed)."""
    default = plots._candidate_fonts()[0]
    monkeypatch.setattr(plots, "_candidate_fonts", lambda: [default])


def test_find_font_covers_latin_but_not_unknown_characters(no_cjk_font):
    assert plots.find_font(["author (n=3)", "Größe"]) is not None
    assert plots.find_font(["作者"]) is None
    assert plots.find_font([]) is not None


def test_training_curves_one_line_per_fold(tmp_path):
    r = plots.training_curves({"fold 0": HISTORY, "fold 1": HISTORY[:2], "fold 2": []}, tmp_path / "t.png", "cv_raw")
    check_png(r.path)
    assert "2 run(s)" in r.description
    assert r.markdown(tmp_path).startswith("![t](t.png)")


def test_chinese_names_fall_back_to_indices_with_legend_and_no_missing_glyphs(tmp_path, no_cjk_font):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a missing glyph would warn
        r = plots.per_predicate_f1(PER_PREDICATE, tmp_path / "f1.png")
    check_png(r.path)
    assert r.font is None
    assert r.legend == [(0, "作者"), (1, "饰演_inWork"), (2, "出版社")]   # sorted by F1, best first
    md = r.markdown(tmp_path)
    assert "| 1 | 饰演_inWork |" in md and "indices" in md


def test_names_drawn_when_a_font_covers_them(tmp_path):
    r = plots.per_predicate_f1({"author": PER_PREDICATE["作者"], "publisher": PER_PREDICATE["出版社"]},
                               tmp_path / "f1.png")
    check_png(r.path)
    assert r.font is not None and r.legend == []
    assert "indices" not in r.markdown()


def test_threshold_and_cleaning_and_fold_figures(tmp_path, no_cjk_font):
    sweep = [{"start_threshold": s, "end_threshold": e, "precision": s, "recall": 1 - s, "f1": 0.5 - abs(s - e) / 2}
             for s in (0.3, 0.5, 0.7) for e in (0.3, 0.5)]
    r = plots.threshold_curves(sweep, tmp_path / "thr.png", best=sweep[0], current=sweep[3])
    check_png(r.path)
    assert "best F1 0.5000 at start 0.3, end 0.3" in r.description
    r = plots.cleaning_stats({"作者": {"added": 3, "removed": 1}, "国籍": {"added": 0, "removed": 5}}, tmp_path / "c.png")
    check_png(r.path)
    assert r.legend == [(0, "国籍"), (1, "作者")] and "4 predicates" not in r.description
    assert "3 triples added and 6 removed" in r.description
    check_png(plots.cleaning_stats({}, tmp_path / "c0.png").path)
    r = plots.fold_scores({"cv_raw": [(1, 0.5), (0, 0.4)], "cv/prior": [(0, 0.6)]}, tmp_path / "folds.png")
    check_png(r.path)
    assert "cv_raw, cv/prior" in r.description


def test_rendering_is_deterministic_and_replaces_the_file(tmp_path):
    path = tmp_path / "t.png"
    path.write_bytes(b"old")
    plots.training_curves({"single": HISTORY}, path, "train")
    first = path.read_bytes()
    plots.training_curves({"single": HISTORY}, path, "train")
    assert path.read_bytes() == first != b"old"


# --------------------------------------------------------------------------- the report stage (renders the figures)
class OracleModel:
    """Gold spans at start 0.65 / end 0.45, and for every subject one wrong object (the first character,
    predicate 0) at 0.35 / 0.35: (0.5, 0.4) is perfect, start 0.3 adds errors, start 0.7 finds nothing."""

    def __init__(self, samples, schema):
        self.gold = {s.text: s.triples for s in samples}
        self.schema = schema

    def subject_probs(self, texts):
        length = max(map(len, texts))
        start, end = np.zeros((len(texts), length), np.float32), np.zeros((len(texts), length), np.float32)
        for i, t in enumerate(texts):
            for triple in self.gold[t]:
                s, e = find_spans(t, triple.subject)[0]
                start[i, s], end[i, e] = 0.65, 0.45
        return start, end

    def object_probs(self, texts, rows, spans):
        length, c = max(map(len, texts)), len(self.schema)
        start, end = np.zeros((len(rows), length, c), np.float32), np.zeros((len(rows), length, c), np.float32)
        for n, (r, (s, e)) in enumerate(zip(rows, spans)):
            t = texts[r]
            start[n, 0, 0] = end[n, 0, 0] = 0.35
            for triple in self.gold[t]:
                if triple.subject == t[s:e + 1]:
                    os_, oe = find_spans(t, triple.object)[0]
                    k = self.schema.index(triple.predicate)
                    start[n, os_, k], end[n, oe, k] = 0.65, 0.45
        return start, end


@pytest.fixture
def workspace(tmp_path, monkeypatch, repo_root):
    """A tiny pipeline state: prepared synthetic data, 2 folds, histories, fold and cleaning reports, dev
    predictions."""
    src = repo_root / "data" / "synthetic"
    prepared = tmp_path / layout.PREPARED_DIR
    prepared.mkdir(parents=True)
    shutil.copy(src / "schema.json", tmp_path / layout.PREPARED_SCHEMA)
    for name, n in (("train.json", 60), ("dev.json", 40)):
        lines = (src / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (prepared / name).write_text("".join(lines), encoding="utf-8")
    write_params(tmp_path / "params.yaml", {
        "seed": 1, "folds": {"k": 2},
        "data": {"format": "lic2019", "normalize": "none", "on_error": "skip"},
        "decode": {"start_threshold": 0.5, "end_threshold": 0.4, "batch_size": 16},
        "cv": {"folds": [0, 1], "families": ["plain", "prior"]},
        "report": {"tune_thresholds": False, "tune_on": "cv_raw", "start_thresholds": [0.3, 0.7],
                   "end_thresholds": [0.3, 0.4], "error_top": 2, "error_examples": 1}})
    monkeypatch.chdir(tmp_path)
    run_stage("folds", "params.yaml")
    for path in ("reports/train/history.json", "reports/cv_raw/fold0/history.json",
                 "reports/cv_raw/fold1/history.json", "reports/cv/prior/fold1/history.json"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(json.dumps(HISTORY))
    (tmp_path / "reports/cv_raw/fold0.json").write_text(json.dumps({"oof": {"f1": 0.5}}))
    (tmp_path / "reports/clean").mkdir()
    (tmp_path / "reports/clean/report.json").write_text(json.dumps(
        {"enabled": True, "per_predicate": {"作者": {"added": 2, "removed": 1}}}, ensure_ascii=False))
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    dev, _ = read_dataset(layout.PREPARED_DEV, schema)
    pred = [set(s.triples[1:]) if i % 3 else set(s.triples) for i, s in enumerate(dev)]
    write_predictions("predictions/ensemble/dev.json", dev, pred, schema)
    return tmp_path


def _recording_oracle():
    """The training samples, the model folders loaded so far, and a loader that records the folder and
    returns the oracle of the training file."""
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    train, _ = read_dataset(layout.PREPARED_TRAIN, schema)
    loaded = []

    def load(directory):
        loaded.append(str(directory))
        return OracleModel(train, schema)

    return train, loaded, load


def test_report_stage_without_tuning(workspace, no_cjk_font):
    summary = run_stage("report", "params.yaml")
    figures = workspace / "reports" / "figures"
    assert sorted(p.name for p in figures.iterdir()) == sorted(
        ["training_single.png", "training_cv_raw.png", "training_cv_prior.png", "cv_folds.png", "cleaning.png",
         "per_predicate_f1.png"])
    index = (workspace / "reports" / "figures.md").read_text(encoding="utf-8")
    assert "![per_predicate_f1](figures/per_predicate_f1.png)" in index
    assert "| 0 | 作者 |" in index                                        # legend: no CJK font
    assert "cv: plain family on cleaned labels: no history found" in index
    assert json.loads((workspace / "reports/thresholds.json").read_text()) == {
        "tuned": False, "decode": {"start_threshold": 0.5, "end_threshold": 0.4}}
    assert json.loads((workspace / "reports/threshold_sweep.json").read_text())["sweep"] == []
    curves = json.loads((workspace / "reports/fold_curves.json").read_text())
    assert curves and {row["model"] for row in curves} == {"cv_raw fold 0", "cv_raw fold 1", "cv/prior fold 1"}
    assert all(set(row) == {"model", "epoch", "dev_f1"} for row in curves)
    errors = json.loads((workspace / "reports/error_analysis.json").read_text(encoding="utf-8"))
    assert errors["spurious"] == 0 and errors["missed"] == summary["errors"]["missed"] > 0
    assert "## " in (workspace / "reports/error_analysis.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("current, chosen, gain", [
    ((0.5, 0.4), (0.5, 0.4), 0.0),     # already perfect
    ((0.6, 0.2), (0.6, 0.2), 0.0),     # perfect too: (0.5, 0.3) ties, but only a strict gain moves
    ((0.7, 0.3), (0.5, 0.3), 1.0),     # finds nothing: the first perfect pair is chosen
])
def test_report_stage_tunes_thresholds_on_out_of_fold_predictions(workspace, monkeypatch, current, chosen, gain):
    params = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    params["report"].update(tune_thresholds=True, start_thresholds=[0.3, 0.5, 0.7])
    params["decode"].update(start_threshold=current[0], end_threshold=current[1])
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    train, loaded, load = _recording_oracle()
    monkeypatch.setattr(report, "_fold_model_api", lambda: (load, list))
    (workspace / "reports/figures").mkdir(parents=True)
    (workspace / "reports/figures/stale.png").write_bytes(b"x")
    run_stage("report", "params.yaml")
    assert loaded == ["models/cv_raw/fold0", "models/cv_raw/fold1"]
    metrics = json.loads((workspace / "reports/thresholds.json").read_text())
    doc = json.loads((workspace / "reports/threshold_sweep.json").read_text())
    assert metrics == {"tuned": True, "decode": {"start_threshold": chosen[0], "end_threshold": chosen[1]},
                       "best": {"f1": 1.0}, "current": {"f1": doc["current"]["f1"]}, "f1_gain": gain}
    grid = [(r["start_threshold"], r["end_threshold"]) for r in doc["sweep"]]
    assert grid == sorted({(s, e) for s in (0.3, 0.5, 0.7) for e in (0.3, 0.4)} | {current})
    assert doc["best"]["f1"] == 1.0
    assert (doc["current"]["start_threshold"], doc["current"]["end_threshold"]) == current
    low, high = doc["sweep"][0], doc["sweep"][-1]          # start 0.3 adds the noise; 0.7 finds nothing
    assert low["precision"] < 1.0 and low["recall"] == 1.0 and high["f1"] == 0.0
    assert doc["best"]["n_gold"] == sum(len(s.triples) for s in train)
    assert (workspace / "reports/figures/thresholds.png").is_file()
    assert not (workspace / "reports/figures/stale.png").exists()


def test_oof_sweep_unites_the_members_of_each_fold(workspace):
    """Two fold models that each know half of the gold: alone recall 1/2 at (0.5, 0.4), united 1."""
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    train, _ = read_dataset(layout.PREPARED_TRAIN, schema)
    assignment = [i % 2 for i in range(len(train))]
    halves = {fam: OracleModel([s if i % 2 == k else dataclasses.replace(s, triples=[])
                                for i, s in enumerate(train)], schema)
              for k, fam in enumerate(("plain", "prior"))}
    given = []

    def make_inputs(texts, cands=None):
        given.append(cands)
        return list(texts)

    def candidates(fold):
        return [(fold, i) for i in range(len(train))]

    def load(directory):
        return halves[directory.parent.name]

    grid = [(0.5, 0.4)]
    n_gold = sum(len(s.triples) for s in train)
    plain, prior = Member("plain", uses_prior=False), Member("prior", uses_prior=True)
    alone, n = oof_sweep(train, assignment, [0, 1], schema, grid, 8, load, make_inputs, [plain], candidates)
    assert n == len(train) and 0 < alone[0]["tp"] < n_gold and alone[0]["precision"] == 1.0
    given.clear()
    united, _ = oof_sweep(train, assignment, [0, 1], schema, grid, 8, load, make_inputs, [plain, prior], candidates)
    assert united[0]["tp"] == n_gold and united[0]["f1"] == 1.0
    prior_cands = [c for cands in given if cands is not None for c in cands]
    assert prior_cands and all(assignment[i] == fold for fold, i in prior_cands)   # that fold's own KB rows
    assert None in given                                                            # plain: no candidates
    with pytest.raises(ValueError, match="member with prior features needs"):
        oof_sweep(train, assignment, [0], schema, grid, 8, load, make_inputs, [prior])


@pytest.mark.parametrize("tune_on, mode, members", [
    ("cv_raw", "union", [Member(None, False)]),
    ("cv", "union", [Member("plain", False), Member("prior", True)]),
    ("cv", "average", [Member("plain", False)]),
    ("cv", "single", [Member("plain", False)]),
])
def test_tuning_members_follow_the_submitted_system(tune_on, mode, members):
    params = {"report": {"tune_on": tune_on}, "cv": {"families": ["plain", "prior"]}, "ensemble": {"mode": mode}}
    assert report.tuning_members(config_from_dict(repo_params(params))) == members
    with pytest.raises(ConfigError, match="report.tune_on"):
        config_from_dict(repo_params({**params, "report": {"tune_on": "dev"}}))


def test_report_stage_tunes_on_the_cv_models(workspace, monkeypatch):
    params = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    params["report"].update(tune_thresholds=True, tune_on="cv")
    params["ensemble"] = {"mode": "union"}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    (workspace / "data/cleaned").mkdir(parents=True)
    shutil.copy(workspace / layout.PREPARED_TRAIN, workspace / layout.CLEANED_TRAIN)
    checked = []
    train, loaded, load = _recording_oracle()
    monkeypatch.setattr(report, "_fold_model_api", lambda: (load, lambda texts, cands=None: list(texts)))

    def load_candidates(path, split, fold, samples, schema):
        checked.append((str(path), split, fold, samples[0].source))
        return [[] for _ in samples]

    monkeypatch.setattr(report, "load_candidates", load_candidates)
    run_stage("report", "params.yaml")
    # candidates of each fold's KB, checked against the cleaned file the prior stage made them for
    assert checked == [("features/prior", "train", f, "data/cleaned/train.json:1") for f in (0, 1)]
    assert loaded == ["models/cv/plain/fold0", "models/cv/prior/fold0", "models/cv/plain/fold1",
                      "models/cv/prior/fold1"]
    doc = json.loads((workspace / "reports/threshold_sweep.json").read_text())
    assert doc["source"].startswith("cv/plain + cv/prior out-of-fold predictions")
    assert doc["best"]["f1"] == 1.0
    assert json.loads((workspace / "reports/thresholds.json").read_text())["decode"] == {
        "start_threshold": 0.5, "end_threshold": 0.4}
