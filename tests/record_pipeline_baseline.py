"""Re-record tests/fixtures/tiny_pipeline_metrics.json: `python tests/record_pipeline_baseline.py "why"`.

Runs test_pipeline's tiny `dvc repro` in a temporary folder and writes its `_baseline_snapshot` with the
recording machine's fingerprint (the machine type on which test_metrics_match_recorded_baseline compares
exactly) and a comment naming the commit and the reason. Re-record only for a deliberate change of behaviour;
a refactor must pass the test unchanged.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_pipeline  # noqa: E402


def main(reason: str) -> None:
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "src", "dvc.yaml", "params.yaml"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="dgcnn-ie-record-") as tmp:
        repo, _, _ = test_pipeline._reproduce(Path(tmp) / "repo")
        snapshot = test_pipeline._baseline_snapshot(repo)
    doc = {"_comment": f"Recorded by `python tests/record_pipeline_baseline.py` at commit {commit}"
                       f"{' with uncommitted changes to src/dvc.yaml/params.yaml' if dirty else ''}: {reason}",
           "_machine": test_pipeline.machine_fingerprint(), **snapshot}
    test_pipeline.BASELINE_FIXTURE.write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False) + "\n",
                                              encoding="utf-8")
    print(f"wrote {test_pipeline.BASELINE_FIXTURE} ({len(snapshot)} files)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/record_pipeline_baseline.py \"why the behaviour changed\"")
    main(sys.argv[1])
