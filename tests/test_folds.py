"""Fold assignment: balanced, deterministic, reusable; the `folds` stage end to end."""

import json
from collections import Counter

import shutil

import pytest
from conftest import write_params

from dgcnn_ie.data import DataError, load_schema, read_dataset
from dgcnn_ie.folds import load_folds, make_folds, split
from dgcnn_ie.stages.runner import run_stage

SCHEMA_PATH, TRAIN_PATH = "data/prepared/schema.json", "data/prepared/train.json"


def test_make_folds_balanced_and_deterministic():
    a = make_folds(103, 8, seed=42)
    assert len(a) == 103 and sorted(Counter(a).values()) == [12] * 1 + [13] * 7
    assert a == make_folds(103, 8, seed=42) and a != make_folds(103, 8, seed=43)
    assert sorted(Counter(make_folds(16, 8, 0)).values()) == [2] * 8


@pytest.mark.parametrize("n, k", [(10, 1), (3, 4)])
def test_make_folds_rejects_bad_k(n, k):
    with pytest.raises(ValueError, match="2 <= k <= n"):
        make_folds(n, k, 0)


def test_split_partitions():
    samples, assignment = list("abcdef"), [0, 1, 2, 0, 1, 2]
    assert split(samples, assignment, 1) == (list("acdf"), list("be"))
    with pytest.raises(ValueError, match="6 samples but 5"):
        split(samples, assignment[:5], 0)
    with pytest.raises(ValueError, match="fold 3 is not"):
        split(samples, assignment, 3)


def make_project(root, train_rows, k=3, params_name="params.yaml"):
    """A tiny project folder as the stage sees it from the repo root: the prepared schema and train file, params."""
    (root / "data/prepared").mkdir(parents=True)
    (root / SCHEMA_PATH).write_text(
        json.dumps({"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (root / TRAIN_PATH).write_text("".join(r + "\n" for r in train_rows), encoding="utf-8")
    # cv.folds must name folds that exist with k (the config refuses fold 3 of 3)
    return write_params(root / params_name, {"seed": 7, "folds": {"k": k}, "cv": {"folds": list(range(k))},
                                             "data": {"format": "lic2019", "normalize": "none", "on_error": "skip"}})


def row(i):
    return json.dumps({"text": f"《书{i}》的作者是张{i}", "spo_list": [
        {"subject": f"书{i}", "predicate": "作者", "object": f"张{i}"}]}, ensure_ascii=False)


def test_stage_writes_folds_and_report(tmp_path, monkeypatch):
    params = make_project(tmp_path, [row(i) for i in range(5)] + ["{broken", ""] + [row(i) for i in range(5, 10)],
                          params_name="p.yaml")
    monkeypatch.chdir(tmp_path)
    doc = run_stage("folds", "p.yaml")
    saved = json.loads((tmp_path / "data/folds.json").read_text(encoding="utf-8"))
    assert saved == doc and (doc["k"], doc["seed"], doc["n"]) == (3, 7, 10)
    assert doc["sources"][5] == "data/prepared/train.json:8" and sorted(Counter(doc["assignment"]).values()) == [3, 3, 4]
    assert doc["assignment"] == make_folds(10, 3, 7)
    report = json.loads((tmp_path / "reports/data/train_read.json").read_text())
    assert report == {"lines": 12, "samples": 10, "triples": 10, "skipped": {"blank_line": 1, "malformed_json": 1},
                      "triples_skipped": {}, "notes": {}}
    samples, _ = read_dataset(TRAIN_PATH, load_schema(SCHEMA_PATH, "lic2019"))
    assignment = load_folds("data/folds.json", samples)
    train, held = split(samples, assignment, 0)
    assert len(train) + len(held) == 10 and {s.source for s in held}.isdisjoint(s.source for s in train)
    before = (tmp_path / "data/folds.json").read_bytes()
    run_stage("folds", str(params))
    assert (tmp_path / "data/folds.json").read_bytes() == before


def test_load_folds_detects_stale_file(tmp_path, monkeypatch):
    make_project(tmp_path, [row(i) for i in range(6)])
    monkeypatch.chdir(tmp_path)
    run_stage("folds")
    (tmp_path / TRAIN_PATH).write_text("".join(row(i) + "\n" for i in range(7)), encoding="utf-8")
    samples, _ = read_dataset(TRAIN_PATH, load_schema(SCHEMA_PATH, "lic2019"))
    with pytest.raises(DataError, match="folds.json:1: folds were made for other samples"):
        load_folds("data/folds.json", samples)


@pytest.mark.realdata
def test_stage_on_real_lic2019_train(tmp_path, monkeypatch, shared_data):
    (tmp_path / "data/prepared").mkdir(parents=True)
    shutil.copyfile(shared_data / "lic2019/all_50_schemas", tmp_path / SCHEMA_PATH)
    shutil.copyfile(shared_data / "lic2019/train_data.json", tmp_path / TRAIN_PATH)
    write_params(tmp_path / "params.yaml", {"seed": 42, "folds": {"k": 8}, "data": {
        "format": "lic2019", "normalize": "none", "on_error": "raise"}})
    monkeypatch.chdir(tmp_path)
    doc = run_stage("folds")
    assert doc["n"] == 2450 and sorted(set(Counter(doc["assignment"]).values())) == [306, 307]
    report = json.loads((tmp_path / "reports/data/train_read.json").read_text())
    assert report["samples"] == 2450 and report["notes"] == {"case_insensitive_match": 10}


def test_load_folds_accepts_same_lines_under_another_path(tmp_path, monkeypatch):
    make_project(tmp_path, [row(i) for i in range(6)])
    monkeypatch.chdir(tmp_path)
    doc = run_stage("folds")
    samples, _ = read_dataset(tmp_path / TRAIN_PATH, load_schema(SCHEMA_PATH, "lic2019"))
    assert load_folds("data/folds.json", samples) == doc["assignment"]
