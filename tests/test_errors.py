"""Expected errors are one line `error: <file:line or params key>: <reason>` and a non-zero exit, no traceback.

Runs the real commands (`python -m dgcnn_ie.stages <stage>`, `python -m dgcnn_ie.cli.predict`) in
subprocesses on small project folders: a data error under `on_error: raise`, a missing input, a
missing, a corrupt and a truncated model file, corrupt config.json / char_vocab.json.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, tiny_config, write_params

SYNTHETIC = REPO_ROOT / "data/synthetic"


def _run(args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _one_line(proc, code=2) -> str:
    """The error line; asserts it is the only thing on stderr after the logs, and no traceback."""
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr[-3000:]
    return errors[0]


def test_data_error_under_raise_is_one_line(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(SYNTHETIC / "schema.json", source / "schema.json")
    good = (SYNTHETIC / "train.json").read_text(encoding="utf-8").splitlines(keepends=True)[:5]
    (source / "train.json").write_text("".join(good) + '{"text": "无标注的一行"}\n', encoding="utf-8")
    (source / "dev.json").write_text("".join(good), encoding="utf-8")
    (source / "test.json").write_text("".join(good), encoding="utf-8")
    write_params(tmp_path / "params.yaml", {"data": {"on_error": "raise", "source": {"dir": "in"}}})
    line = _one_line(_run(["dgcnn_ie.stages", "prepare"], tmp_path))
    assert line == "error: in/train.json:6: missing_spo_list: no 'spo_list': a training or dev line must be labelled"
    assert not (tmp_path / "data/prepared").exists()


def test_unanswerable_test_line_is_refused_at_prepare(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(SYNTHETIC / "schema.json", source / "schema.json")
    good = (SYNTHETIC / "train.json").read_text(encoding="utf-8").splitlines(keepends=True)[:5]
    for name in ("train.json", "dev.json"):
        (source / name).write_text("".join(good), encoding="utf-8")
    (source / "test.json").write_bytes("".join(good[:2]).encode() + '{"text": "北京"}\n'.encode("gbk"))
    write_params(tmp_path / "params.yaml", {"data": {"source": {"dir": "in"}}})     # on_error: skip
    line = _one_line(_run(["dgcnn_ie.stages", "prepare"], tmp_path))
    assert line.startswith("error: in/test.json:3: not valid UTF-8") and "cannot be answered in a submission" in line


def test_missing_input_is_one_line(tmp_path):
    write_params(tmp_path / "params.yaml")
    line = _one_line(_run(["dgcnn_ie.stages", "folds"], tmp_path))
    assert line == "error: data/prepared/schema.json: no such file or folder (run the stages before folds: dvc repro)"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny untrained extractor folder (no word vectors) and a project that evaluates it."""
    from dgcnn_ie.data import load_schema
    from dgcnn_ie.extractor import Extractor
    from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
    from dgcnn_ie.model import build_models
    cfg = tiny_config(model={"dilations": [1], "use_word_vectors": False})   # 1 conv layer
    root = tmp_path_factory.mktemp("project")
    (root / "data/prepared").mkdir(parents=True)
    for name in ("schema", "dev", "test"):
        lines = (SYNTHETIC / f"{name}.json").read_text(encoding="utf-8").splitlines(keepends=True)
        (root / f"data/prepared/{name}.json").write_text("".join(lines if name == "schema" else lines[:4]),
                                                         encoding="utf-8")
    schema = load_schema(root / "data/prepared/schema.json", "lic2019")
    encoder = Encoder(CharVocab.build(["甲乙丙"], 1), NoWordVectors(0), schema, 64)
    models = build_models(cfg.model, len(schema), 0, len(encoder.vocab))
    Extractor(models, encoder, schema, cfg.model).save(root / "models/single")
    write_params(root / "params.yaml")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name, damage, expected", [
    ("model.keras", "truncate", "corrupt or unreadable model file"),
    ("model.keras", "garbage", "corrupt or unreadable model file"),
    ("model.keras", "delete", "not there: models/single is not a saved extractor"),
    ("config.json", "garbage", "not a JSON file (JSONDecodeError"),
    ("config.json", "truncate", "not a JSON file"),
    ("char_vocab.json", "garbage", "not a JSON file (JSONDecodeError"),
])
def test_damaged_model_file_is_named(saved_model, tmp_path, name, damage, expected):
    root = tmp_path / "project"
    shutil.copytree(saved_model, root)
    path = root / "models/single" / name
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    else:
        path.write_bytes(b"\x00garbage{")
    line = _one_line(_run(["dgcnn_ie.stages", "evaluate"], root))
    assert line.startswith(f"error: models/single/{name}:1: {expected}"), line
    cli = _run(["dgcnn_ie.cli.predict", "--model", "models/single", "--input", "data/prepared/dev.json",
                "--output", "out.json"], root)
    assert _one_line(cli).startswith(f"error: models/single/{name}:1: {expected}")
    assert not (root / "out.json").exists()


@pytest.mark.slow
def test_intact_model_evaluates(saved_model, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(saved_model, root)
    proc = _run(["dgcnn_ie.stages", "evaluate"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((root / "reports/evaluate/metrics.json").read_text())["dev_labelled"] is True
