"""The prepare stage: fixed output paths, a seeded dev hold-out, bad lines counted and left out."""

import json

import pytest
from conftest import write_params

from dgcnn_ie.data import DataError, load_schema, read_dataset
from dgcnn_ie.stages import prepare
from dgcnn_ie.stages.runner import run_stage

SCHEMA = [
    {"subject_type": "图书作品", "predicate": "作者", "object_type": "人物"},
    {"subject_type": "书籍", "predicate": "出版社", "object_type": "出版社"},
]


def _line(text, spo=()):
    return json.dumps({"text": text, "spo_list": [
        {"subject": s, "predicate": p, "object": o, "subject_type": "", "object_type": ""} for s, p, o in spo]},
        ensure_ascii=False)


def _project(tmp_path, train_lines, dev_lines=None, *, on_error="skip", dev_fraction=0.25):
    src = tmp_path / "src"
    src.mkdir()
    (src / "schema.json").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in SCHEMA), "utf-8")
    (src / "train.json").write_text("\n".join(train_lines) + "\n", "utf-8")
    (src / "test.json").write_text(json.dumps({"text": "《海边》作者是李四"}, ensure_ascii=False) + "\n", "utf-8")
    if dev_lines is not None:
        (src / "dev.json").write_text("\n".join(dev_lines) + "\n", "utf-8")
    return write_params(tmp_path / "params.yaml", {"seed": 3, "data": {
        "format": "lic2019", "dev_fraction": dev_fraction, "on_error": on_error, "normalize": "none",
        "source": {"dir": str(src), "schema": "schema.json", "train": "train.json",
                   "dev": "dev.json" if dev_lines is not None else "", "test": "test.json"}}})


TRAIN = [_line(f"《书{i}》的作者是张{i}", [(f"书{i}", "作者", f"张{i}")]) for i in range(8)]


def test_dev_file_is_used_as_given(tmp_path, monkeypatch):
    params = _project(tmp_path, TRAIN, dev_lines=[_line("《书x》的作者是王五", [("书x", "作者", "王五")])])
    monkeypatch.chdir(tmp_path)
    summary = run_stage("prepare", str(params))
    assert (summary["train"], summary["dev"], summary["test"], summary["dev_held_out_from_train"]) == (8, 1, 1, 0)
    schema = load_schema("data/prepared/schema.json", "lic2019")
    train, _ = read_dataset("data/prepared/train.json", schema)
    assert [s.text for s in train] == [json.loads(x)["text"] for x in TRAIN]


def test_word2vec_test_texts_only_on_request(tmp_path, monkeypatch):
    params = _project(tmp_path, TRAIN)
    monkeypatch.chdir(tmp_path)
    run_stage("prepare", str(params))
    assert (tmp_path / "data/prepared/test_texts.txt").read_text(encoding="utf-8") == ""   # the default
    text = params.read_text(encoding="utf-8").replace("include_test: false", "include_test: true")
    params.write_text(text, encoding="utf-8")
    run_stage("prepare", str(params))
    assert (tmp_path / "data/prepared/test_texts.txt").read_text(encoding="utf-8") == "《海边》作者是李四\n"


def test_no_dev_file_holds_out_a_seeded_share(tmp_path, monkeypatch):
    params = _project(tmp_path, TRAIN)
    monkeypatch.chdir(tmp_path)
    summary = run_stage("prepare", str(params))
    assert (summary["train"], summary["dev"], summary["dev_held_out_from_train"]) == (6, 2, 2)
    schema = load_schema("data/prepared/schema.json", "lic2019")
    train = [s.text for s in read_dataset("data/prepared/train.json", schema)[0]]
    dev = [s.text for s in read_dataset("data/prepared/dev.json", schema)[0]]
    assert not set(train) & set(dev) and len(set(train) | set(dev)) == 8
    first = (tmp_path / "data/prepared/dev.json").read_bytes()
    run_stage("prepare", str(params))
    assert (tmp_path / "data/prepared/dev.json").read_bytes() == first, "the hold-out must be deterministic"


def test_bad_lines_are_counted_and_left_out(tmp_path, monkeypatch):
    lines = TRAIN + ["{not json", _line(""), _line("《书y》作者是赵六", [("书y", "作者", "钱七")])]
    params = _project(tmp_path, lines, dev_lines=[])
    monkeypatch.chdir(tmp_path)
    summary = run_stage("prepare", str(params))
    counts = summary["files"]["train.json"]
    assert summary["train"] == 9  # the line with an unlocatable object keeps its text
    assert counts["skipped"]["malformed_json"] == 1 and counts["skipped"]["empty_text"] == 1
    report = json.loads((tmp_path / "reports/data/read.json").read_text("utf-8"))
    assert report["files"]["train.json"] == counts


def test_raise_mode_names_file_and_line(tmp_path, monkeypatch):
    params = _project(tmp_path, TRAIN + ["{not json"], dev_lines=[], on_error="raise")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"train\.json:9: "):
        run_stage("prepare", str(params))
    assert not (tmp_path / "data/prepared/train.json").exists()


@pytest.mark.parametrize("content, why", [
    ("", "the file is empty or has only blank lines"),
    ("\n  \n\t\n", "the file is empty or has only blank lines"),
    ('{"id": 1}\n{"text": " "}\n', "none of its 2 line(s) has a non-empty 'text'"),
], ids=["empty", "blank lines", "no text"])
def test_a_test_file_without_a_readable_line_is_refused(tmp_path, monkeypatch, content, why):
    params = _project(tmp_path, TRAIN)
    (tmp_path / "src/test.json").write_text(content, "utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as error:
        run_stage("prepare", str(params))
    assert str(error.value) == f"{tmp_path / 'src/test.json'}:1: no readable line: {why}"
    assert not (tmp_path / "data/prepared").exists()


def test_no_readable_test_line_is_one_error_line_and_exit_2(tmp_path):
    import os
    import subprocess
    import sys
    from conftest import REPO_ROOT
    _project(tmp_path, TRAIN)
    (tmp_path / "src/test.json").write_text("\n\n", "utf-8")
    proc = subprocess.run([sys.executable, "-m", "dgcnn_ie.stages", "prepare"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.rstrip().splitlines()[-1] == \
        f"error: {tmp_path / 'src/test.json'}:1: no readable line: the file is empty or has only blank lines"


def test_an_empty_training_file_is_refused_before_the_hold_out(tmp_path, monkeypatch):
    params = _project(tmp_path, [""])                 # no dev file: the hold-out would blame dev_fraction
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"train\.json:1: no usable training sample$"):
        run_stage("prepare", str(params))


def test_hold_out_rejects_bad_fractions():
    with pytest.raises(ValueError, match="dev_fraction"):
        prepare.hold_out(list(range(10)), 0.0, 1)
    with pytest.raises(ValueError, match="cannot hold out"):
        prepare.hold_out([1], 0.5, 1)


def test_real_duie2_without_dev(shared_data, tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", {"seed": 3, "data": {
        "format": "duie2", "dev_fraction": 0.1, "on_error": "skip", "normalize": "none",
        "source": {"dir": str(shared_data / "duie2"), "schema": "duie_schema.json",
                   "train": "duie_train.json", "dev": "", "test": "duie_test1.json"}}})
    monkeypatch.chdir(tmp_path)
    summary = run_stage("prepare", "params.yaml")
    assert summary["train"] + summary["dev"] == 9398 and summary["dev"] == 940
    assert summary["test"] == summary["files"]["duie_test1.json"]["samples"]
