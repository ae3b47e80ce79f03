"""scripts/compare_runs.py on two workspaces laid out as the stages write them."""
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("compare_runs", REPO_ROOT / "scripts" / "compare_runs.py")
compare_runs = sys.modules.setdefault("compare_runs", importlib.util.module_from_spec(spec))
spec.loader.exec_module(compare_runs)


def _write(path: Path, obj, stage: str | None = "stage") -> None:
    """Write ``obj`` and record it as an output of ``stage`` in the run's dvc.lock (None: not recorded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj, encoding="utf-8")
    if stage is None or path.name == "params.yaml":
        return
    root = next(p for p in path.parents if (p / "params.yaml").is_file())   # written first by every run
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else {"schema": "2.0", "stages": {}}
    outs = lock["stages"].setdefault(stage, {"cmd": "x", "outs": []})["outs"]
    outs.append({"path": path.relative_to(root).as_posix(), "md5": hashlib.md5(path.read_bytes()).hexdigest()})
    lock_path.write_text(yaml.safe_dump(lock))


def _history(f1s):
    return [{"epoch": i + 1, "loss": 1.0 / (i + 1), "dev_f1": f, "reloaded": False} for i, f in enumerate(f1s)]


def _single_run(root: Path, arch: str, f1: float) -> Path:
    params = {"model": {"arch": arch, "width": 128, "dilations": [1, 2, 5]}}
    _write(root / "params.yaml", yaml.safe_dump(params))
    _write(root / "reports/train/metrics.json",
           {"dev_precision": 0.5, "dev_recall": 0.25, "dev_f1": f1, "best_epoch": 2, "epochs": 3,
            "seconds_per_epoch": 114.2, "device": "CPU"})
    _write(root / "reports/train/history.json", _history([0.0, f1, f1 - 0.01]))
    return root


def _cv_run(root: Path) -> Path:
    _write(root / "params.yaml", yaml.safe_dump({"model": {"arch": "dgcnn", "width": 64, "dilations": [1]}}))
    s = {"precision": 0.6, "recall": 0.3, "f1": 0.4}
    _write(root / "reports/ensemble/metrics.json",
           {"oof": {"raw/plain": s}, "dev": {"single": s, "average/plain": s, "average/prior": s, "union": s},
            "mode": "union", "models": {"plain": 2, "prior": 2}})
    _write(root / "reports/cv_raw/fold0/history.json", _history([0.1, 0.2]))
    _write(root / "reports/cv/prior/fold1/history.json", _history([0.3]))
    _write(root / "reports/cv_raw/fold0.json", {"oof": s})
    return root


def test_tables_files_and_figure(tmp_path):
    dgcnn = _single_run(tmp_path / "a", "dgcnn", 0.61)
    bilstm = _single_run(tmp_path / "b", "bilstm", 0.12)
    cv = _cv_run(tmp_path / "c")
    out = tmp_path / "report"
    md = compare_runs.main(["--out", str(out), "--run", f"dgcnn={dgcnn}", "--run", f"bilstm={bilstm}",
                            "--run", f"cv={cv}"]).read_text(encoding="utf-8")
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert ["| dgcnn", "dgcnn, width 128, 3 conv layers", "2 / 3", "0.5000", "0.2500", "0.6100", "114", "CPU |"] in rows
    assert ["| bilstm", "bilstm, width 128", "2 / 3", "0.5000", "0.2500", "0.1200", "114", "CPU |"] in rows
    systems = {r[1]: r[2] for r in rows if r[0] == "| cv"}
    assert systems == {"dev single": "1", "dev average/plain": "2", "dev average/prior": "2", "dev union": "4",
                       "out-of-fold raw/plain": ""}
    assert (out / "dev_f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "cv/reports/cv/prior/fold1/history.json").is_file()
    assert (out / "cv/reports/cv_raw/fold0.json").is_file()
    assert json.loads((out / "dgcnn/reports/train/metrics.json").read_text())["dev_f1"] == 0.61


def test_current_layout_timings_and_counts_come_from_their_own_files(tmp_path):
    """Seconds and device are in reports/train/run.json, the ensemble's counts in scores.json (the metrics
    files hold the headline numbers only); runs made before that have them in the metrics files."""
    run = _single_run(tmp_path / "a", "dgcnn", 0.61)
    _write(run / "reports/train/metrics.json", {"dev_precision": 0.5, "dev_recall": 0.25, "dev_f1": 0.61,
                                                 "best_epoch": 2, "epochs": 3})
    _write(run / "reports/train/run.json", {"seconds_per_epoch": 57.0, "device": "GPU:0"})
    assert compare_runs.single_row("a", run)[-2:] == ["57", "GPU:0"]
    s = {"precision": 0.6, "recall": 0.3, "f1": 0.4}
    _write(run / "reports/ensemble/metrics.json", {"oof": {"raw/plain": {"f1": 0.4}}, "dev": {"union": s}})
    _write(run / "reports/ensemble/scores.json", {"oof": {"raw/plain": s}, "dev": {"union": s},
                                                   "mode": "union", "models": {"plain": 3, "prior": 3}})
    rows = compare_runs.ensemble_rows("a", run)
    assert rows == [["a", "dev union", "6", "0.6000", "0.3000", "0.4000"],
                    ["a", "out-of-fold raw/plain", "", "0.6000", "0.3000", "0.4000"]]
    assert "reports/train/run.json" in compare_runs.copy_run(run, tmp_path / "out")


def test_example_sentences_are_not_copied(tmp_path):
    run = _cv_run(tmp_path / "c")
    _write(run / "reports/clean/report.json",
           {"added": 3, "per_predicate": {"p": {"added": 3, "examples": {"added": [{"text": "某句子"}]}}},
            "examples": ["某句子"]})
    compare_runs.copy_run(run, tmp_path / "out")
    copied = json.loads((tmp_path / "out/reports/clean/report.json").read_text(encoding="utf-8"))
    assert copied == {"added": 3, "per_predicate": {"p": {"added": 3}}}


def test_curves_cover_every_model(tmp_path):
    curves = compare_runs.histories("cv", _cv_run(tmp_path / "c"))
    assert list(curves) == ["cv raw/plain fold0", "cv prior fold1"]


def test_stale_metric_files_are_left_out(tmp_path):
    """A metrics file the run's dvc.lock does not record, or records with another md5, is not its number."""
    run = _cv_run(tmp_path / "c")
    _write(run / "reports/train/metrics.json", {"dev_f1": 0.84, "best_epoch": 30, "epochs": 30,
                                                 "dev_precision": 0.8, "dev_recall": 0.8,
                                                 "seconds_per_epoch": 7.0}, stage=None)
    _write(run / "reports/cv_raw/fold1.json", {"oof": {}})
    (run / "reports/cv_raw/fold1.json").write_text("{}", encoding="utf-8")   # changed after the lock
    copied = compare_runs.copy_run(run, tmp_path / "out")
    assert "reports/train/metrics.json" not in copied and "reports/cv_raw/fold1.json" not in copied
    assert "reports/cv_raw/fold0.json" in copied and "reports/ensemble/metrics.json" in copied
    assert compare_runs.single_row("cv", tmp_path / "out") is None


def test_files_inside_a_directory_output_count_while_the_directory_is_unchanged(tmp_path):
    """A fold's history lives in a directory output (reports/cv/<family>/fold<k>/): dvc.lock holds the
    directory's hash (<md5>.dir), checked against DVC's own hash of a directory DVC wrote."""
    import subprocess
    run = tmp_path / "run"
    run.mkdir()
    (run / "params.yaml").write_text("seed: 1\n", encoding="utf-8")
    folder = run / "reports/cv/plain/fold0"
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps(_history([0.1, 0.2])), encoding="utf-8")
    (folder / "summary.json").write_text("{}", encoding="utf-8")
    (run / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    outs:\n"
                                  "      - reports/cv/plain/fold0:\n          cache: false\n", encoding="utf-8")
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                [sys.executable, "-m", "dvc", "commit", "-f", "-q"]):
        subprocess.run(cmd, cwd=run, check=True, capture_output=True)
    locked = compare_runs.locked_outputs(run)
    assert locked["reports/cv/plain/fold0"].endswith(".dir")
    assert compare_runs.is_fresh(run, "reports/cv/plain/fold0/history.json", locked)
    (folder / "summary.json").write_text('{"changed": 1}', encoding="utf-8")   # the directory changed
    assert not compare_runs.is_fresh(run, "reports/cv/plain/fold0/history.json", locked)
    assert not compare_runs.is_fresh(run, "reports/cv/plain/fold1/history.json", locked)


def test_not_a_workspace_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a pipeline workspace"):
        compare_runs.copy_run(tmp_path, tmp_path / "out")


def test_bad_run_spec_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        compare_runs.main(["--out", str(tmp_path), "--run", "no-equals-sign"])
