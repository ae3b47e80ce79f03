"""OS faults, bad inputs and start-up of the command-line tools (issue 21): one exit status (2) and one line
`error: <path>: <reason>` for every expected error, nothing half-written, no TensorFlow before the checks.

OS faults are injected, not made with file modes (CI runs as root, where a read-only mode stops nothing):
`FAULTS` wraps a real command (`python -m dgcnn_ie.stages ...`, `python -m dgcnn_ie.cli.predict ...`) in
a subprocess and makes the OS calls of an atomic write into one folder fail: creating the temp file
(``open``: a read-only file system, no permission), writing it (``write``: a full disk, an error naming no
file, as a real one does) or renaming it onto the target (``replace``). The predict tests that are about the
flow, not the process, run in-process on a fake predictor (`_fake_model`), so they need no TensorFlow.
"""
import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, tiny_config, write_params
from dgcnn_ie.cli import main as cli_main
from dgcnn_ie.cli import predict, show
from dgcnn_ie.data import Triple, load_schema
from dgcnn_ie.decode import Thresholds

SYNTHETIC = REPO_ROOT / "data/synthetic"
HEAVY = ("tensorflow", "keras", "jax")
TEMP = re.compile(r"^\..+\.(tmp|tmpdir|old)$")

# Runs `python -m <module> <args>` after installing the fault described by $FAULT (JSON: errno name, the call
# that fails, the folder whose writes fail) and, at exit, writes which of HEAVY were imported to $MODULES_OUT.
FAULTS = r'''
import builtins, errno, json, os, runpy, sys
fault = json.loads(os.environ.get("FAULT") or "null")
if fault:
    code, folder = getattr(errno, fault["errno"]), os.path.abspath(fault["folder"])
    real_open, real_replace, real_builtin_open = os.open, os.replace, builtins.open
    hit = lambda path: os.path.dirname(os.path.abspath(os.fsdecode(path))) == folder
    full, doomed = OSError(code, os.strerror(code)), set()

    def fake_open(path, flags, *args, **kwargs):
        if fault["call"] == "open" and flags & os.O_CREAT and hit(path):
            raise OSError(code, os.strerror(code), path)
        fd = real_open(path, flags, *args, **kwargs)
        if flags & os.O_CREAT and hit(path):
            doomed.add(fd)
        return fd

    def fake_replace(src, dst, *args, **kwargs):
        if fault["call"] == "replace" and hit(dst):
            raise OSError(code, os.strerror(code), src, None, dst)
        return real_replace(src, dst, *args, **kwargs)

    class Full:
        def __init__(self, f): self.f = f
        def __enter__(self): return self
        def __exit__(self, *exc): self.f.close()
        def __getattr__(self, name): return getattr(self.f, name)
        def write(self, data): raise full

    def fake_builtin_open(file, *args, **kwargs):
        f = real_builtin_open(file, *args, **kwargs)
        return Full(f) if fault["call"] == "write" and isinstance(file, int) and file in doomed else f

    os.open, os.replace, builtins.open = fake_open, fake_replace, fake_builtin_open
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
finally:
    if os.environ.get("MODULES_OUT"):
        with open(os.environ["MODULES_OUT"], "w") as f:
            json.dump([m for m in ("tensorflow", "keras", "jax") if m in sys.modules], f)
'''


def _run(args, cwd, *, fault=None, stdin=None, modules_out=None, env=None) -> subprocess.CompletedProcess:
    """`python -m <args>` in ``cwd`` under `FAULTS`; ``fault``: (errno name, call, folder). TensorFlow's log
    level is the commands' default unless ``env`` sets it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": None, **(env or {})}
    env = {key: value for key, value in env.items() if value is not None}
    if fault:
        env["FAULT"] = json.dumps(dict(zip(("errno", "call", "folder"), map(str, fault))))
    if modules_out:
        env["MODULES_OUT"] = str(modules_out)
    return subprocess.run([sys.executable, "-c", FAULTS, *map(str, args)], cwd=cwd, env=env, input=stdin,
                          capture_output=True, timeout=600)


def _one_line(proc, code=2) -> str:
    """The error line: exit ``code``, no traceback, the last and only `error:` line on stderr."""
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == code, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err[-3000:]
    return errors[0]


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.match(p.name)) if folder.is_dir() else []


# ------------------------------------------------------------------------------------ the stage runner
@pytest.fixture
def submit_project(tmp_path):
    """A project the `submit` stage runs in (no model needed), with an old submission in place."""
    (tmp_path / "in").mkdir()
    (tmp_path / "data/prepared").mkdir(parents=True)
    (tmp_path / "predictions/ensemble").mkdir(parents=True)
    (tmp_path / "submission").mkdir()
    shutil.copy(SYNTHETIC / "schema.json", tmp_path / "data/prepared/schema.json")
    lines = (SYNTHETIC / "test.json").read_text(encoding="utf-8").splitlines(keepends=True)[:4]
    (tmp_path / "in/test.json").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "predictions/ensemble/test.json").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "submission/lic2019_submission.json").write_text("old\n", encoding="utf-8")
    write_params(tmp_path / "params.yaml", {"data": {"source": {"dir": "in"}}})
    return tmp_path


def test_submit_stage_writes_in_the_fixture_project(submit_project):
    proc = _run(["dgcnn_ie.stages", "submit"], submit_project)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert len((submit_project / "submission/lic2019_submission.json").read_text().splitlines()) == 4


@pytest.mark.parametrize("name, call, reason", [
    ("EROFS", "open", "Read-only file system (EROFS)"),
    ("EACCES", "open", "Permission denied (EACCES)"),
    ("EROFS", "replace", "Read-only file system (EROFS)"),
    ("ENOSPC", "write", "No space left on device (ENOSPC)"),
])
def test_submit_onto_a_failing_submission_folder_is_one_line(submit_project, name, call, reason):
    proc = _run(["dgcnn_ie.stages", "submit"], submit_project, fault=(name, call, submit_project / "submission"))
    line = _one_line(proc)
    # a full disk fails a write on an open file, which names no file: the runner names the stage
    where = "stage submit" if call == "write" else "submission/lic2019_submission.json"
    assert line in (f"error: {where}: {reason}", f"error: submission/lic2019_submission.json: {reason}"), line
    assert (submit_project / "submission/lic2019_submission.json").read_text() == "old\n"
    assert _temps(submit_project / "submission") == []


def test_submit_onto_a_folder_is_one_line(submit_project):
    target = submit_project / "submission/lic2019_submission.json"
    target.unlink()
    target.mkdir()
    (target / "kept.txt").write_text("x", encoding="utf-8")
    line = _one_line(_run(["dgcnn_ie.stages", "submit"], submit_project))
    assert line == "error: submission/lic2019_submission.json: Is a directory (EISDIR)"
    assert (target / "kept.txt").read_text() == "x" and _temps(submit_project / "submission") == []


def test_os_error_message_names_the_target_of_a_temp_file():
    from dgcnn_ie.utils import os_error_message
    tmp = OSError(errno.EROFS, os.strerror(errno.EROFS), "submission/.x.json.123.0a1b2c3d.tmp")
    assert os_error_message(tmp) == "submission/x.json: Read-only file system (EROFS)"
    assert os_error_message(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "out.json") == \
        "out.json: No space left on device (ENOSPC)"
    assert os_error_message(OSError(errno.EISDIR, os.strerror(errno.EISDIR), "a", None, "b")) == \
        "a: Is a directory (EISDIR)"


# ------------------------------------------------------------------------- predict: checks before loading
@pytest.fixture
def project(tmp_path):
    """An input file and two model folders that pass the checks (nothing loads: the checks come first)."""
    lines = (SYNTHETIC / "test.json").read_text(encoding="utf-8").splitlines(keepends=True)[:3]
    (tmp_path / "in.json").write_text("".join(lines), encoding="utf-8")
    for folder, name in (("model", "config.json"), ("system", "system.json")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("{}", encoding="utf-8")
    return tmp_path


def _predict(cwd, *args, **kwargs):
    """`python -m dgcnn_ie.cli.predict ARGS` in ``cwd``; returns (process, seconds, heavy modules imported)."""
    modules = Path(cwd) / ".modules.json"
    started = time.perf_counter()
    proc = _run(["dgcnn_ie.cli.predict", *args], cwd, modules_out=modules, **kwargs)
    return proc, time.perf_counter() - started, json.loads(modules.read_text()) if modules.exists() else None


def _link(project: Path, how: str) -> str:
    """A second name of in.json, made ``how``."""
    if how == "symlink":
        (project / "alias.json").symlink_to(project / "in.json")
        return "alias.json"
    if how == "hardlink":
        os.link(project / "in.json", project / "alias.json")
        return "alias.json"
    return {"same": "in.json", "dotdot": "./x/../in.json", "absolute": str(project / "in.json")}[how]


@pytest.mark.parametrize("how", ["same", "dotdot", "absolute", "symlink", "hardlink"])
def test_predict_refuses_output_that_is_its_input(project, how):
    before = (project / "in.json").read_bytes()
    output = _link(project, how)
    proc, seconds, heavy = _predict(project, "--model", "model", "--input", "in.json", "--output", output)
    line = _one_line(proc)
    assert "is the same file as --input in.json" in line, line
    assert (project / "in.json").read_bytes() == before and heavy == [], heavy
    assert _temps(project) == []


@pytest.mark.parametrize("args, expected", [
    (["--model", "model", "--input", "missing.json", "--output", "out.json"],
     "error: missing.json: no such file (--input: a file, or - for stdin)"),
    (["--model", "model", "--input", "model", "--output", "out.json"],
     "error: model: a folder (--input: a file, or - for stdin)"),
    (["--model", "nothing", "--input", "in.json", "--output", "out.json"], "error: nothing: no such model folder"),
    (["--model", "empty", "--input", "in.json", "--output", "out.json"],
     "error: empty: holds neither system.json nor config.json"),
    (["--model", "model", "--input", "in.json", "--output", "in.json/sub/out.json"],
     "error: in.json: not a folder, so in.json/sub/out.json cannot be written (--output)"),
    (["--model", "model", "--input", "in.json", "--output", "empty"], "error: empty: is a folder; give a file path"),
    (["--model", "model", "--input", "in.json", "--output", "out.json", "--metrics", "in.json"],
     "error: in.json: is the same file as --input in.json"),
    (["--model", "model", "--input", "in.json", "--output", "out.json", "--batch-size", "0"],
     "error: argument --batch-size: '0' is not a positive integer"),
    (["--model", "system", "--input", "in.json", "--output", "system/system.json"],
     "error: system/system.json: lies in the model folder system"),
    (["--model", "model", "--input", "in.json", "--output", "model/sub/x.json"],
     "error: model/sub/x.json: lies in the model folder model"),
    (["--model", "model", "--input", "in.json", "--output", "link.json"],
     "error: link.json: is a symlink; give the file it leads to, or - for stdout"),
    (["--model", "model", "--input", "in.json", "--output", "loop.json"], "error: loop.json: cannot be resolved"),
    (["--model", "system", "--input", "in.json", "--output", "out.json", "--word2vec", "w2v"],
     "error: w2v: a system folder carries its own word vectors"),
    (["--model", "model", "--input", "in.json", "--output", "out.json", "--metrics", "-"],
     "error: -: --metrics takes a file"),
])
def test_predict_checks_arguments_before_loading_tensorflow(project, args, expected):
    (project / "empty").mkdir()
    (project / "link.json").symlink_to(project / "elsewhere.json")     # a symlink output would be replaced
    (project / "loop.json").symlink_to(project / "loop.json")
    proc, seconds, heavy = _predict(project, *args)
    assert _one_line(proc).startswith(expected), proc.stderr.decode()
    assert heavy == [] and seconds < 5, (heavy, seconds)         # about 0.3 s; 5 for a loaded CI machine
    assert not (project / "out.json").exists()


def test_predict_refuses_undecodable_stdin_before_predicting(project):
    data = "罗仪曼是中国著名演员\n".encode() + b"\xff\xfe bad\n" + "第三行\n".encode()
    proc, _, heavy = _predict(project, "--model", "model", "--input", "-", "--output", "out.json", stdin=data)
    assert _one_line(proc).startswith("error: <stdin>:2: not valid UTF-8 (byte 1: invalid start byte)")
    assert heavy == [] and not (project / "out.json").exists()


@pytest.mark.parametrize("model", ["model", "system"])
def test_predict_refuses_a_lone_surrogate_in_a_file_before_predicting(project, model):
    with open(project / "in.json", "a", encoding="utf-8") as f:
        f.write('{"text": "罗仪曼\\ud800是演员", "spo_list": []}\n')
    proc, _, heavy = _predict(project, "--model", model, "--input", "in.json", "--output", "out.json")
    line = _one_line(proc)
    assert line.startswith("error: in.json:4: holds a lone surrogate (\\ud800)"), line
    assert heavy == [] and not (project / "out.json").exists()


def test_predict_refuses_a_lone_surrogate_on_stdin(project):
    data = '甲\n{"text": "乙\\udc00"}\n'.encode()
    proc, _, heavy = _predict(project, "--model", "model", "--input", "-", "--output", "-", stdin=data)
    assert _one_line(proc).startswith("error: <stdin>:2: holds a lone surrogate (\\udc00)")
    assert heavy == [] and proc.stdout == b""


def test_system_input_lines_that_cannot_be_answered_are_refused_before_loading(project):
    with open(project / "in.json", "ab") as f:
        f.write(b'{"text": "\xff"}\n')
    proc, _, heavy = _predict(project, "--model", "system", "--input", "in.json", "--output", "out.json")
    assert _one_line(proc).startswith("error: in.json:4: not valid UTF-8") and heavy == []


# -------------------------------------------------------------------------------- help and start-up
@pytest.mark.parametrize("module, args", [
    ("dgcnn_ie.cli.predict", ["--help"]),
    ("dgcnn_ie.cli.main", ["--help"]),
    ("dgcnn_ie.cli.main", ["predict", "--help"]),
    ("dgcnn_ie.cli.main", ["preset", "--help"]),
    ("dgcnn_ie.cli.main", ["show", "--help"]),
])
def test_help_is_instant_and_only_the_help(tmp_path, module, args):
    modules = tmp_path / "modules.json"
    started = time.perf_counter()
    proc = _run([module, *args], tmp_path, modules_out=modules)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    assert b"usage" in proc.stdout.lower() or b"dgcnn-ie" in proc.stdout
    assert json.loads(modules.read_text()) == [] and seconds < 3, seconds


def test_tensorflow_start_up_lines_are_off(tmp_path):
    """`import tensorflow` logs two absl lines whatever TF_CPP_MIN_LOG_LEVEL says: not shown by default."""
    modules = tmp_path / "modules.json"
    proc = _run(["dgcnn_ie.stages", "cv", "--help"], tmp_path, modules_out=modules)
    assert proc.returncode == 0 and b"--family" in proc.stdout
    assert "tensorflow" in json.loads(modules.read_text()) and proc.stderr == b"", proc.stderr.decode()


def test_predict_help_documents_exit_statuses_and_the_stdin_rule(capsys):
    with pytest.raises(SystemExit) as stop:
        predict.cli(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    for needle in ("Exit status", "2 an expected error", "128 + signal", "TF_CPP_MIN_LOG_LEVEL=0",
                   'JSON object with a "text" string'):
        assert needle in " ".join(out.split()), needle
    assert "exit status" in cli_main.__doc__.lower() and "128 + the signal" in cli_main.__doc__


def test_cli_modules_import_no_tensorflow():
    code = ("import sys, dgcnn_ie.cli.main, dgcnn_ie.cli.predict, dgcnn_ie.cli.preset, dgcnn_ie.cli.show, "
            "dgcnn_ie.stages.runner; print([m for m in %r if m in sys.modules])" % (HEAVY,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_model_file_names_are_the_loaders():
    from dgcnn_ie import system
    assert predict.MODEL_FILES[0] == system.SYSTEM_FILE
    source = (REPO_ROOT / "src/dgcnn_ie/extractor.py").read_text(encoding="utf-8")   # importing it loads TF
    assert re.search(r'CONFIG_FILE[^\n]*= [^\n]*"config.json"', source) and predict.MODEL_FILES[1] == "config.json"


@pytest.mark.parametrize("entry", ["main", "predict", "runner"])
def test_tensorflow_log_lines_are_off_unless_asked_for(monkeypatch, entry, capsys):
    from dgcnn_ie.stages import runner
    call = {"main": lambda: cli_main.main(["nothing"]), "predict": lambda: predict.cli(["--model", "none", "--input",
            "none", "--output", "x"]), "runner": lambda: runner.main(["folds", "--params", "none.yaml"])}[entry]
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert call() == 2
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert call() == 2
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_unknown_command_is_one_line(capsys):
    assert cli_main.main(["predcit"]) == 2
    assert capsys.readouterr().err == \
        "error: predcit: unknown command (stage, predict, show, preset; dgcnn-ie --help)\n"


def test_child_stopped_by_a_signal_is_128_plus_signal(monkeypatch):
    from dgcnn_ie.utils import run_child
    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]
    assert run_child(suicide) == 143
    monkeypatch.setattr(show, "command", lambda args: suicide)
    assert show.cli([]) == 143
    monkeypatch.setattr(show, "command", lambda args: [str(REPO_ROOT / "no-such-program")])
    assert show.cli([]) == 2


# ------------------------------------------------------------------ predict's flow, on a fake predictor
SCHEMA = load_schema(SYNTHETIC / "schema.json", "lic2019")


class FakePredictor:
    """Stands for an extractor or a system: returns ``triples(sample)`` and records the texts it saw."""

    def __init__(self, normalize="none", triples=lambda sample: set()):
        self.schema, self.normalize, self.triples = SCHEMA, normalize, triples
        self.thresholds, self.seen = Thresholds(), []

    def predict(self, samples, batch_size=None):
        self.seen += [s.text for s in samples]
        return [self.triples(s) for s in samples]


def _fake_model(monkeypatch, fake, *, system: bool):
    monkeypatch.setattr(predict, "_load", lambda args: (fake, fake.schema, fake.normalize, fake if system else None))


def _stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_stdin_json_object_lines_are_read_as_json_lines(project, monkeypatch, capsys):
    fake = FakePredictor()
    _fake_model(monkeypatch, fake, system=True)
    lines = ["\ufeff罗仪曼是中国著名演员", '\ufeff{"text": "田菊萱是作家", "id": 7, "spo_list": [1]}', "",
             '{"id": 8}', '"引号"', '{"text": "  "}']
    _stdin(monkeypatch, "\n".join(lines).encode() + b"\n")
    monkeypatch.chdir(project)
    assert predict.cli(["--model", "system", "--input", "-", "--output", "-"]) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert fake.seen == ["罗仪曼是中国著名演员", "田菊萱是作家", '{"id": 8}', '"引号"']
    assert out == [{"text": "罗仪曼是中国著名演员", "spo_list": []},
                   {"text": "田菊萱是作家", "id": 7, "spo_list": []},        # its other fields kept, labels not
                   {"text": '{"id": 8}', "spo_list": []}, {"text": '"引号"', "spo_list": []}]
    assert "1 line(s) are JSON objects without a 'text' string" in captured.err
    assert "4 lines, 0 triples -> -" in captured.err


def _doubled(sample):
    """Two triples that are one in the file: the prediction on the lower-cased text and the original spelling."""
    return {Triple("abc", "国籍", "中国"), Triple("ABC", "国籍", "中国")} if "abc" in sample.text else set()


@pytest.mark.parametrize("system", [False, True])
def test_logged_triples_are_those_written(project, monkeypatch, capsys, system):
    lines = ['{"text": "ABC是中国著名演员"}\n', '{"text": "罗仪曼是演员"}\n']
    (project / "in.json").write_text("".join(lines), encoding="utf-8")
    _fake_model(monkeypatch, FakePredictor("lower", _doubled), system=system)
    monkeypatch.chdir(project)
    assert predict.cli(["--model", "system" if system else "model", "--input", "in.json", "--output", "out.json"]) == 0
    written = [json.loads(line) for line in (project / "out.json").read_text(encoding="utf-8").splitlines()]
    assert [len(line["spo_list"]) for line in written] == [1, 0]
    assert written[0]["spo_list"][0]["subject"] == "ABC"
    assert re.search(r"2 lines( \(0 answered empty: no text\))?, 1 triples -> out.json", capsys.readouterr().err)


@pytest.mark.parametrize("name, call", [("EISDIR", "replace"), ("ENOSPC", "write"), ("EROFS", "open")])
def test_predict_write_faults_in_process(project, monkeypatch, capsys, name, call):
    """The same faults as the subprocess tests, through `predict.cli` on a fake predictor: one line naming
    the output (a full disk too: the write names no file, the command knows its output), the old file kept."""
    _fake_model(monkeypatch, FakePredictor(), system=False)
    (project / "out.json").write_text("old\n", encoding="utf-8")
    monkeypatch.chdir(project)
    code = getattr(errno, name)
    real_open, real_replace = os.open, os.replace
    if call == "open":
        monkeypatch.setattr(os, "open", lambda path, *a, **k: (_ for _ in ()).throw(
            OSError(code, os.strerror(code), path)) if str(path).endswith(".tmp") else real_open(path, *a, **k))
    elif call == "replace":
        monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(
            OSError(code, os.strerror(code), src, None, dst)) if str(dst) == "out.json" else real_replace(src, dst))
    else:
        monkeypatch.setattr(predict, "write_json_lines", lambda path, lines: (_ for _ in ()).throw(
            OSError(code, os.strerror(code))))
    assert predict.cli(["--model", "model", "--input", "in.json", "--output", "out.json"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"error: out.json: {os.strerror(code)} ({name})", err
    assert (project / "out.json").read_text() == "old\n" and _temps(project) == []


# ----------------------------------------------------------------------- predict on a real (tiny) model
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A project with a tiny untrained extractor (no word vectors) in models/single and 4 dev lines."""
    from dgcnn_ie.extractor import Extractor
    from dgcnn_ie.features import CharVocab, Encoder, NoWordVectors
    from dgcnn_ie.model import build_models
    cfg = tiny_config(model={"dilations": [1], "use_word_vectors": False, "max_len": 64})   # 1 conv layer
    root = tmp_path_factory.mktemp("project")
    (root / "data/prepared").mkdir(parents=True)
    lines = (SYNTHETIC / "dev.json").read_text(encoding="utf-8").splitlines(keepends=True)[:4]
    (root / "data/prepared/dev.json").write_text("".join(lines), encoding="utf-8")
    encoder = Encoder(CharVocab.build(["甲乙丙"], 1), NoWordVectors(0), SCHEMA, cfg.model.max_len)
    models = build_models(cfg.model, len(SCHEMA), 0, len(encoder.vocab))
    Extractor(models, encoder, SCHEMA, cfg.model).save(root / "models/single")
    return root


@pytest.mark.parametrize("name, call", [("EROFS", "open"), ("ENOSPC", "write")])
def test_predict_onto_a_failing_target_is_one_line(saved_model, tmp_path, name, call):
    root = tmp_path / "project"
    shutil.copytree(saved_model, root)
    (root / "out").mkdir()
    (root / "out/pred.json").write_text("old\n", encoding="utf-8")
    proc, _, heavy = _predict(root, "--model", "models/single", "--input", "data/prepared/dev.json",
                              "--output", "out/pred.json", fault=(name, call, root / "out"))
    assert _one_line(proc) == f"error: out/pred.json: {os.strerror(getattr(errno, name))} ({name})"
    assert "tensorflow" in heavy or "keras" in heavy                    # it did load the model and predict
    assert b"absl" not in proc.stderr and b"I0000" not in proc.stderr     # no TensorFlow start-up lines
    assert (root / "out/pred.json").read_text() == "old\n" and _temps(root / "out") == []
