"""A killed training resumes at its next epoch and ends where an uninterrupted one ends (CPU, bit for bit).

Each case runs the real `train` stage (`python -m dgcnn_ie.stages train`) in a subprocess on a
slice of the synthetic data with a tiny model, kills it once its checkpoint holds epoch 2,
reruns it, and compares the per-epoch history, the metrics and every weight with an
uninterrupted run. Also: SIGTERM leaves no temp file behind, a temp folder left by a SIGKILL
is removed by the next run, and a checkpoint made with other params is not resumed from.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, tiny_params, write_params
from dgcnn_ie.config import apply_overrides

pytestmark = pytest.mark.slow

EPOCHS, KILL_AFTER = 5, 2
TINY = tiny_params(model={"max_len": 128, "min_char_count": 1, "use_word_vectors": False},   # conftest.TINY_MODEL
                   train={"epochs": EPOCHS, "batch_size": 16, "plateau_min_epoch": 1, "plateau_min_f1": 0.5},
                   decode={"batch_size": 64})
TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|tmpdir|old)$")


def _project(root: Path, overrides: dict | None = None) -> Path:
    synthetic = REPO_ROOT / "data/synthetic"
    (root / "data/prepared").mkdir(parents=True)
    shutil.copy(synthetic / "schema.json", root / "data/prepared/schema.json")
    for name, n in (("train", 480), ("dev", 60)):
        lines = (synthetic / f"{name}.json").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (root / f"data/prepared/{name}.json").write_text("".join(lines), encoding="utf-8")
    write_params(root / "params.yaml", apply_overrides(TINY, overrides or {}))
    return root


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def _train(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgcnn_ie.stages", "train"], cwd=root, env=_env(),
                          capture_output=True, text=True, timeout=600)


def _train_and_kill(root: Path, signum: int) -> subprocess.CompletedProcess:
    """Start the stage, send ``signum`` once the checkpoint holds epoch KILL_AFTER; the finished process."""
    proc = subprocess.Popen([sys.executable, "-m", "dgcnn_ie.stages", "train"], cwd=root, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = root / "checkpoints/single/state.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text(encoding="utf-8"))["epoch"] >= KILL_AFTER:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    assert proc.poll() is None, "the training ended before it could be killed: " + proc.stderr.read()[-2000:]
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _outcome(root: Path) -> dict:
    """What must not depend on the interruption: history and metrics without timings, and every weight."""
    from dgcnn_ie.model import load_models
    history = [{k: v for k, v in row.items() if k != "seconds"}
               for row in json.loads((root / "reports/train/history.json").read_text(encoding="utf-8"))]
    metrics = {k: v for k, v in json.loads((root / "reports/train/metrics.json").read_text(encoding="utf-8")).items()
               if k not in ("train_seconds", "seconds_per_epoch", "device")}
    model = load_models(root / "models/single/model.keras").train
    return {"history": history, "metrics": metrics, "weights": [w.tolist() for w in model.get_weights()]}


def _temps(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if TEMP.match(p.name))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("uninterrupted"))
    done = _train(root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (root / "checkpoints/single").exists() and _temps(root) == []     # removed once the model is saved
    return _outcome(root)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_training_resumes_to_the_same_model(tmp_path, uninterrupted, signum):
    root = _project(tmp_path)
    killed = _train_and_kill(root, signum)
    assert killed.returncode in (128 + signum, -signum), killed.stderr[-2000:]
    if signum == signal.SIGTERM:
        assert killed.stderr.strip().splitlines()[-1].startswith("error: stage train stopped by SIGTERM")
        assert _temps(root) == []                        # cleaned up on the way out
    else:                                                # a SIGKILL mid-save leaves a temp folder: simulate one
        (root / "models/.single.4194301.0badf00d.tmpdir").mkdir(parents=True)
        (root / "models/.single.4194301.0badf00d.tmpdir/model.keras").write_bytes(b"")
    epoch = json.loads((root / "checkpoints/single/state.json").read_text(encoding="utf-8"))["epoch"]
    assert KILL_AFTER <= epoch < EPOCHS
    live = json.loads((root / "reports/train/metrics.json").read_text(encoding="utf-8"))   # what dvc exp show shows
    assert live["in_progress"] and live["epochs"] == EPOCHS and live["epochs_done"] >= epoch
    resumed = _train(root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from checkpoints/single after epoch {epoch}/{EPOCHS}" in resumed.stderr
    assert f": epoch {epoch + 1}/{EPOCHS}:" in resumed.stderr and f": epoch {epoch}/{EPOCHS}:" not in resumed.stderr
    assert _temps(root) == [] and not (root / "checkpoints/single").exists()
    if signum == signal.SIGKILL:
        assert "removed models/.single.4194301.0badf00d.tmpdir: left behind by a killed run" in resumed.stderr
    assert _outcome(root) == uninterrupted


def test_checkpoint_of_other_params_is_not_resumed(tmp_path):
    root = _project(tmp_path)
    assert _train_and_kill(root, signal.SIGTERM).returncode == 128 + signal.SIGTERM
    write_params(root / "params.yaml", apply_overrides(TINY, {"train": {"lr": 0.002}}))
    rerun = _train(root)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "checkpoints/single/state.json: made with other params or inputs; starting afresh" in rerun.stderr
    assert "resuming" not in rerun.stderr and f": epoch 1/{EPOCHS}:" in rerun.stderr


def test_progress_lines_say_epoch_model_and_eta(tmp_path):
    root = _project(tmp_path, {"train": {"epochs": 2}})
    done = _train(root)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [l for l in done.stderr.splitlines() if ": epoch " in l]
    assert len(lines) == 2, done.stderr[-2000:]
    assert re.search(r"single model 1/1: epoch 1/2: loss .* ETA \d+m\d\ds$", lines[0]), lines[0]
