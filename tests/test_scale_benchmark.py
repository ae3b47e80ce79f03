"""scripts/scale_benchmark.py at a tiny scale: every non-training stage runs and is reported (smoke test)."""
import json
import sys

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import scale_benchmark  # noqa: E402


def test_tiny_scales_run_every_stage(tmp_path):
    doc = scale_benchmark.main(["--scales", "0.002", "0.004", "--out", str(tmp_path)])
    assert [r["sizes"]["train"] for r in doc["runs"]] == [346, 692]
    for run in doc["runs"]:
        assert set(run["stages"]) == set(scale_benchmark.STAGES)
        assert all(s["seconds"] > 0 and s["peak_rss_mib"] > 10 for s in run["stages"].values())
    md = (tmp_path / "scale.md").read_text(encoding="utf-8")
    assert all(f"| {stage} |" in md for stage in scale_benchmark.STAGES) and "| met |" in md
    assert json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))["runs"][1]["scale"] == 0.004
