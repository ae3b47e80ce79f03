"""scripts/ablation_grid.sh --dry-run: the dvc commands it would queue (nothing is run)."""
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "ablation_grid.sh"


def _dry_run(tmp_path, *extra, only=None):
    env = {"PATH": "/usr/bin:/bin", "DUIE_DIR": str(tmp_path), "DVC": "dvc"}
    if only:
        env["ONLY"] = only
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", *extra], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [shlex.split(line) for line in proc.stdout.splitlines()], proc.stderr


def _sets(cmd):
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-S"]


def test_every_row_is_queued_with_the_data_overrides(tmp_path):
    cmds, _ = _dry_run(tmp_path)
    names = [cmd[cmd.index("-n") + 1] for cmd in cmds]
    assert names[0] == "abl-full" and len(names) == len(set(names)) == 14
    for cmd in cmds:
        assert cmd[:4] == ["dvc", "exp", "run", "--queue"]
        assert f"data.source.dir={tmp_path.resolve()}" in _sets(cmd)
        assert "data.format=duie2" in _sets(cmd)
    rows = {cmd[cmd.index("-n") + 1]: _sets(cmd) for cmd in cmds}
    assert "ensemble.mode=single" in rows["abl-single-model"]
    assert not any(kv.startswith(("model.", "train.", "cv.", "clean.", "ensemble.", "decode."))
                   for kv in rows["abl-full"])


def test_extra_overrides_go_last_and_clashing_rows_are_skipped(tmp_path):
    cmds, err = _dry_run(tmp_path, "-S", "cv.epochs=8", "-S", "model.dilations=[1,2,5]",
                         only="full no-ema dgcnn-6-layers")
    names = [cmd[cmd.index("-n") + 1] for cmd in cmds]
    assert names == ["abl-full", "abl-no-ema"]
    assert _sets(cmds[1])[-3:] == ["train.ema=false", "cv.epochs=8", "model.dilations=[1,2,5]"]
    assert "skipping abl-dgcnn-6-layers" in err and "model.dilations" in err


def test_missing_data_folder_is_an_error(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env={"PATH": "/usr/bin:/bin",
                          "DUIE_DIR": str(tmp_path / "absent")}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "not found" in proc.stderr
