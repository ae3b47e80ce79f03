"""scripts/ablation_table.py on a real `dvc exp show --json` document (tests/fixtures/dvc_exp_show.json).

The fixture was made with DVC 3.67 in a throw-away repository whose one stage writes
ensemble-style dev metrics (`dev.{single,average/plain,union}.{precision,recall,f1}`) from the
params `model.use_attention`, `model.dilations` and `ensemble.mode`: four queued experiments run
with `dvc queue start` (abl-full, abl-no-attention, abl-shallow, abl-broken: failed), one left
queued (abl-pending) and one run in the workspace (tried-in-workspace).
"""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "dvc_exp_show.json"
spec = importlib.util.spec_from_file_location("ablation_table", REPO_ROOT / "scripts" / "ablation_table.py")
ablation_table = sys.modules.setdefault("ablation_table", importlib.util.module_from_spec(spec))
spec.loader.exec_module(ablation_table)


@pytest.fixture
def rows():
    return ablation_table.load_rows(json.loads(FIXTURE.read_text(encoding="utf-8")))


def body(text):
    """Table rows as lists of cells (header and rule dropped)."""
    lines = [line for line in text.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


def test_rows_states_and_flat_params(rows):
    by_name = {r.name: r for r in rows}
    assert by_name["workspace"].state == "-" and not by_name["workspace"].is_experiment
    assert {n: by_name[n].state for n in ("abl-full", "abl-broken", "abl-pending", "tried-in-workspace")} == {
        "abl-full": "success", "abl-broken": "failed", "abl-pending": "queued", "tried-in-workspace": "success"}
    assert by_name["abl-shallow"].params == {"model.use_attention": True, "model.dilations": [1, 2],
                                             "ensemble.mode": "single"}


def test_default_table_against_abl_full_with_the_submitted_system(tmp_path):
    out = tmp_path / "reports" / "ablations.md"
    text = ablation_table.main(["--input", str(FIXTURE), "--output", str(out)])
    assert out.read_text(encoding="utf-8") == text
    assert "Baseline: `abl-full` (0.6300)" in text
    assert body(text) == [
        ["abl-full", "(baseline)", "success", "0.6800", "0.5800", "0.6300", ""],
        ["abl-no-attention", "model.use_attention=false", "success", "0.5800", "0.4800", "0.5300", "-0.1000"],
        # ensemble.mode=single: its F1 is dev.single's, not dev.union's (0.62)
        ["abl-shallow", "ensemble.mode=single, model.dilations=[1, 2]", "success", "0.6200", "0.5200", "0.5700",
         "-0.0600"],
        ["tried-in-workspace", "model.dilations=[1]", "success", "0.6600", "0.5600", "0.6100", "-0.0200"],
        # DVC shows the baseline's (stale) metrics for a failed experiment: no number here
        ["abl-broken", "model.dilations=[]", "failed", "—", "—", "—", "—"],
        ["abl-pending", "ensemble.mode=average", "queued", "—", "—", "—", "—"],
    ]


def test_named_metric_baseline_and_prefix(tmp_path):
    text = ablation_table.main(["--input", str(FIXTURE), "--output", str(tmp_path / "a.md"), "--prefix", "abl-",
                                "--baseline", "workspace", "--metric", "reports/ensemble/metrics.json:dev.union.f1"])
    rows = body(text)
    assert rows[0][:2] == ["workspace", "(baseline)"]
    assert "tried-in-workspace" not in text
    shallow = next(r for r in rows if r[0] == "abl-shallow")
    assert shallow[5:] == ["0.6200", "-0.0100"]
    assert next(r for r in rows if r[0] == "abl-full")[1:2] == ["(none)"]


def test_missing_metric_and_bad_arguments(tmp_path, capsys):
    text = ablation_table.main(["--input", str(FIXTURE), "--output", str(tmp_path / "a.md"),
                                "--metric", "reports/other.json:f1"])
    assert all(r[5] == "—" for r in body(text))
    for bad in (["--baseline", "nope"], ["--metric", "dev.union.f1"]):
        with pytest.raises(SystemExit):
            ablation_table.main(["--input", str(FIXTURE), "--output", str(tmp_path / "b.md"), *bad])
    assert not (tmp_path / "b.md").exists()


def test_runs_dvc_exp_show_when_no_input_is_given(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.chdir(tmp_path)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], check=True)
    (tmp_path / "params.yaml").write_text("ensemble:\n  mode: single\n")
    (tmp_path / "reports" / "ensemble").mkdir(parents=True)
    (tmp_path / "reports" / "ensemble" / "metrics.json").write_text('{"dev": {"single": {"f1": 0.25}}}')
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - reports/ensemble/metrics.json\nparams:\n  - params.yaml\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-qm", "x"], check=True)
    text = ablation_table.main([])
    assert (tmp_path / "reports" / "ablations.md").read_text(encoding="utf-8") == text
    assert "Baseline: `workspace` (0.2500)" in text


def test_prefixed_f1_metric_gets_its_precision_and_recall():
    """`reports/train/metrics.json:dev_f1` (single-model runs) sits beside dev_precision / dev_recall."""
    def row(name, f1, **params):
        metrics = {"reports/train/metrics.json": {"dev_precision": 0.7, "dev_recall": f1 / 2, "dev_f1": f1}}
        return ablation_table.Row(name, name, "success", params, metrics, is_experiment=True)

    rows = [row("abl-full", 0.48, **{"model.use_gates": True}), row("abl-no-gates", 0.35, **{"model.use_gates": False})]
    text = ablation_table.table(rows, "reports/train/metrics.json:dev_f1", "abl-full", "abl-")
    gates = next(r for r in body(text) if r[0] == "abl-no-gates")
    assert gates[1:] == ["model.use_gates=false", "success", "0.7000", "0.1750", "0.3500", "-0.1300"]
