"""The whole DVC pipeline, end to end, on a small slice of the synthetic data with small models that learn.

Runs `dvc repro` in a fresh git + DVC repository holding copies of the project's
`dvc.yaml`, `params.yaml`, `src/` (the stages' code dependencies) and a slice of
`data/synthetic/` (240 train, 40 dev, 40 test sentences), with 2 folds and models small enough to train
30 epochs in seconds yet large enough to find triples, so that label cleaning and the union act on real
predictions. Checks the CV expansion, every metrics file, that cleaning and the union changed something,
a valid submission, that a second `dvc repro` has nothing to do, and that the metrics still match the
ones recorded in tests/fixtures/tiny_pipeline_metrics.json.
"""
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import repo_params, tiny_params
from dgcnn_ie import submission
from dgcnn_ie.data import load_schema

TRAIN_LINES, DEV_LINES, TEST_LINES = 240, 40, 40
TIMEOUT_S = 900

# 2 folds; width 64 and batch 8 (30 steps an epoch) so that 30 epochs learn the synthetic triples (dev F1 about
# 0.4); no plateau reload; cleaning may remove up to half the labels (2 voters remove what neither predicts)
TINY = tiny_params(model={"width": 64, "dilations": [1, 2, 5]},
                   train={"epochs": 30, "batch_size": 8, "lr": 0.003, "plateau_min_epoch": 100},
                   folds={"k": 2}, cv={"folds": [0, 1], "families": ["plain", "prior"], "epochs": 30},
                   clean={"max_removed_share": 0.5}, word2vec={"dim": 16, "epochs": 1}, decode={"batch_size": 64})


# Behaviour pin: every stage's metrics from the tiny pipeline (see the fixture's "_comment"), plus the sha256 of
# the pipeline's main output files.
BASELINE_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_pipeline_metrics.json"
BASELINE_METRICS = ["reports/data/read.json", "reports/data/train_read.json", "reports/word2vec/stats.json",
                    "reports/train/metrics.json", "reports/train/run.json", "reports/evaluate/metrics.json",
                    "reports/evaluate/per_predicate.json", "reports/cv_raw/fold*.json", "reports/clean/report.json",
                    "reports/clean/metrics.json", "reports/prior/stats.json", "reports/cv/*/fold*.json",
                    "reports/ensemble/metrics.json", "reports/ensemble/scores.json",
                    "reports/ensemble/per_predicate.json", "reports/thresholds.json", "reports/threshold_sweep.json",
                    "reports/fold_curves.json",
                    # the per-epoch training losses pin the models themselves
                    "reports/train/history.json", "reports/cv_raw/fold*/history.json",
                    "reports/cv/*/fold*/history.json"]
BASELINE_HASHED = ["submission/*_submission.json", "predictions/ensemble/test.json", "data/cleaned/train.json"]
EXACT_BASELINE_ENV = "DGCNN_IE_EXACT_BASELINE"
# On the machine type that recorded the fixture (same CPU features, same library versions) CPU training is
# deterministic, so every number and the main outputs' bytes must be equal. On another CPU the last float bits
# differ and 30 epochs of training carry them into other predictions: there only the headline numbers are
# compared, within these tolerances (one more or fewer true triple moves a dev F1 by about 0.012).
HEADLINE_METRICS = ["reports/data/read.json", "reports/data/train_read.json", "reports/word2vec/stats.json",
                    "reports/train/metrics.json", "reports/evaluate/metrics.json", "reports/clean/metrics.json",
                    "reports/ensemble/metrics.json"]
BASELINE_FLOAT_TOL = 0.05
BASELINE_INT_TOL = 0.1       # relative, at least 3



def _head(src: Path, dst: Path, n: int) -> None:
    with open(src, encoding="utf-8") as f:
        lines = [line for _, line in zip(range(n), f)]
    dst.write_text("".join(lines), encoding="utf-8")


def _run(args, cwd, env, timeout=TIMEOUT_S) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


@pytest.fixture(scope="module")
def pipeline():
    """A tmp repository after one full `dvc repro`: (path, env, repro output).

    Its own temporary folder, not pytest's: pytest sessions started meanwhile prune old basetemps."""
    with tempfile.TemporaryDirectory(prefix="dgcnn-ie-pipeline-") as tmp:
        yield _reproduce(Path(tmp) / "repo")


def _reproduce(repo: Path):
    root = Path(__file__).resolve().parent.parent
    repo.mkdir()
    shutil.copy(root / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(root / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(root / "data/extra", repo / "data/extra")
    params = repo_params(TINY)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    source = params["data"]["source"]
    src_dir, dst_dir = root / source["dir"], repo / source["dir"]
    dst_dir.mkdir(parents=True)
    shutil.copy(src_dir / source["schema"], dst_dir / source["schema"])
    for key, n in (("train", TRAIN_LINES), ("dev", DEV_LINES), ("test", TEST_LINES)):
        if source.get(key):
            _head(src_dir / source[key], dst_dir / source[key], n)

    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "DVC_SITE_CACHE_DIR": str(repo.parent / "dvc-site-cache"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):   # set inside git hooks: would aim at another repo
        env.pop(var, None)
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], repo, env)
    _run(dvc + ["init", "-q"], repo, env)
    shutil.copytree(root / ".dvc/plots", repo / ".dvc/plots")        # the plot templates dvc.yaml names
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "pipeline test"], repo, env)
    started = time.perf_counter()
    out = _run(dvc + ["repro"], repo, env)
    print(f"\nfirst dvc repro: {time.perf_counter() - started:.0f} s")
    return repo, env, out


@pytest.mark.slow
def test_cv_stages_expand_over_folds_and_families(pipeline):
    repo, env, out = pipeline
    stages = _run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], repo, env).split()
    expected = ["cv_raw@0", "cv_raw@1", "clean", "cv@plain-0", "cv@plain-1", "cv@prior-0", "cv@prior-1",
                "ensemble", "submit"]
    assert set(expected) <= set(stages), stages
    for name in expected:
        assert f"Running stage '{name}'" in out, name


@pytest.mark.slow
def test_metrics_and_cleaned_file(pipeline):
    repo = pipeline[0]
    for path in ["reports/cv_raw/fold0.json", "reports/cv_raw/fold1.json", "reports/clean/report.json",
                 *[f"reports/cv/{fam}/fold{f}.json" for fam in ("plain", "prior") for f in (0, 1)]]:
        doc = json.loads((repo / path).read_text(encoding="utf-8"))
        assert doc, path
    fold = json.loads((repo / "reports/cv/prior/fold1.json").read_text(encoding="utf-8"))
    assert (fold["round"], fold["family"], fold["fold"], fold["epochs"]) == ("clean", "prior", 1, 30)
    assert 0.0 <= fold["oof"]["f1"] <= 1.0
    assert (repo / "reports/cv/plain/fold0/history.csv").is_file()
    scores = json.loads((repo / "reports/ensemble/scores.json").read_text(encoding="utf-8"))
    assert set(scores["oof"]) == {"raw/plain", "clean/plain", "clean/prior", "clean/union"}
    assert scores["oof"]["raw/plain"]["sentences"] == TRAIN_LINES
    assert set(scores["dev"]) == {"single", "average/plain", "average/prior", "union"}
    assert scores["dev"]["union"]["n_gold"] > 0
    metrics = json.loads((repo / "reports/ensemble/metrics.json").read_text(encoding="utf-8"))
    assert metrics == {"dev": {k: {m: v[m] for m in ("precision", "recall", "f1")} for k, v in scores["dev"].items()},
                       "oof": {k: {"f1": v["f1"]} for k, v in scores["oof"].items()}}
    clean = json.loads((repo / "reports/clean/report.json").read_text(encoding="utf-8"))
    assert clean["models"] == 2 and clean["add_min_votes"] == 2
    prepared = (repo / "data/prepared/train.json").read_text(encoding="utf-8").splitlines()
    cleaned = (repo / "data/cleaned/train.json").read_text(encoding="utf-8").splitlines()
    assert len(cleaned) == len(prepared)
    assert [json.loads(a)["text"] for a in prepared] == [json.loads(b)["text"] for b in cleaned]
    assert clean["triples_after"] == sum(len(json.loads(b)["spo_list"]) for b in cleaned)
    assert (repo / "predictions/ensemble/dev.json").is_file()
    # the report stage swept the submitted system: each fold's plain + prior cv models, united
    thresholds = json.loads((repo / "reports/threshold_sweep.json").read_text(encoding="utf-8"))
    assert thresholds["source"] == f"cv/plain + cv/prior out-of-fold predictions, folds [0, 1], {TRAIN_LINES} sentences"


@pytest.mark.slow
def test_models_find_triples_so_cleaning_and_union_act(pipeline):
    """The small models learn (every model finds true triples), so cleaning votes real predictions and changes
    labels, the clean-round models train on other labels than the raw round's, and the union of the two
    families predicts triples that neither family's average predicts alone."""
    repo = pipeline[0]
    scores = json.loads((repo / "reports/ensemble/scores.json").read_text(encoding="utf-8"))
    for name, row in scores["dev"].items():
        assert row["tp"] > 0 and row["f1"] > 0.1, (name, row)
    for path in [*repo.glob("reports/cv_raw/fold*.json"), *repo.glob("reports/cv/*/fold*.json")]:
        assert json.loads(path.read_text(encoding="utf-8"))["oof"]["f1"] > 0.1, path
    clean = json.loads((repo / "reports/clean/report.json").read_text(encoding="utf-8"))
    assert not clean["kept_raw_labels"] and clean["removed"] > 0 and clean["sentences_changed"] > 0, clean
    prepared = (repo / "data/prepared/train.json").read_text(encoding="utf-8").splitlines()
    cleaned = (repo / "data/cleaned/train.json").read_text(encoding="utf-8").splitlines()
    changed = sum(json.loads(a)["spo_list"] != json.loads(b)["spo_list"] for a, b in zip(prepared, cleaned))
    assert changed == clean["sentences_changed"], (changed, clean["sentences_changed"])
    raw_history = json.loads((repo / "reports/cv_raw/fold0/history.json").read_text(encoding="utf-8"))
    clean_history = json.loads((repo / "reports/cv/plain/fold0/history.json").read_text(encoding="utf-8"))
    assert [e["loss"] for e in raw_history] != [e["loss"] for e in clean_history]   # same fold, other labels
    union, families = scores["dev"]["union"], [scores["dev"]["average/plain"], scores["dev"]["average/prior"]]
    assert union["n_pred"] > max(f["n_pred"] for f in families), (union, families)
    assert union["n_pred"] <= sum(f["n_pred"] for f in families)
    assert union["tp"] >= max(f["tp"] for f in families)


@pytest.mark.slow
def test_submission_is_valid(pipeline):
    repo = pipeline[0]
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    source = params["data"]["source"]
    test_file = repo / source["dir"] / source["test"]
    path = repo / f"submission/{params['data']['format']}_submission.json"
    schema = load_schema(repo / source["dir"] / source["schema"], params["data"]["format"])
    submission.validate_file(path, test_file, schema)
    assert len(path.read_text(encoding="utf-8").splitlines()) == TEST_LINES


@pytest.mark.slow
def test_second_repro_runs_nothing(pipeline):
    repo, env, _ = pipeline
    dvc = [sys.executable, "-m", "dvc"]
    out = _run(dvc + ["repro"], repo, env)
    assert "Running stage" not in out, out[-3000:]
    status = _run(dvc + ["status"], repo, env)
    assert "Data and pipelines are up to date" in status, status


@pytest.mark.slow
def test_new_decode_thresholds_retrain_nothing(pipeline):
    """A tuned threshold pair (reports/thresholds.json) re-decodes with the trained models only."""
    repo, env, _ = pipeline
    path = repo / "params.yaml"
    original = path.read_text(encoding="utf-8")
    params = yaml.safe_load(original)
    params["decode"]["end_threshold"] = 0.55
    try:
        path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    finally:
        path.write_text(original, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(json.loads(proc.stdout)) == {"evaluate", "ensemble", "report"}, proc.stdout


def _is_timing_or_device(key: str) -> bool:
    """Keys that vary from run to run or machine to machine: seconds, train_seconds, seconds_per_epoch, device, *time*."""
    key = key.lower()
    return key == "device" or "second" in key or "time" in key


def _without_timing(doc):
    if isinstance(doc, dict):
        return {k: _without_timing(v) for k, v in doc.items() if not _is_timing_or_device(k)}
    if isinstance(doc, list):
        return [_without_timing(v) for v in doc]
    return doc


def _baseline_snapshot(repo: Path) -> dict:
    """{path: metrics without timing/device keys} for BASELINE_METRICS, {path: {"sha256": ...}} for BASELINE_HASHED."""
    snapshot = {}
    for pattern in BASELINE_METRICS:
        for path in sorted(repo.glob(pattern)):
            doc = json.loads(path.read_text(encoding="utf-8"))
            snapshot[path.relative_to(repo).as_posix()] = _without_timing(doc)
    for pattern in BASELINE_HASHED:
        for path in sorted(repo.glob(pattern)):
            snapshot[path.relative_to(repo).as_posix()] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return snapshot


def _compare_to_baseline(expected, actual, where: str, exact: bool, problems: list) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{where}: expected an object, got {actual!r}")
            return
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            elif key not in expected:
                problems.append(f"{where}.{key}: new key ({actual[key]!r})")
            else:
                _compare_to_baseline(expected[key], actual[key], f"{where}.{key}", exact, problems)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            problems.append(f"{where}: expected a list of {len(expected)}, got {actual!r}"[:300])
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            _compare_to_baseline(e, a, f"{where}[{i}]", exact, problems)
    elif isinstance(expected, float):
        number = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        if exact:
            if not (isinstance(actual, float) and actual == expected):
                problems.append(f"{where}: {actual!r} != {expected!r} (exact)")
        elif not (number and math.isclose(actual, expected, rel_tol=0.0, abs_tol=BASELINE_FLOAT_TOL)):
            problems.append(f"{where}: {actual!r} not within {BASELINE_FLOAT_TOL} of {expected!r}")
    elif isinstance(expected, int) and not isinstance(expected, bool) and not exact:
        if not (type(actual) is int and abs(actual - expected) <= max(3, BASELINE_INT_TOL * abs(expected))):
            problems.append(f"{where}: {actual!r} not within {BASELINE_INT_TOL:.0%} of {expected!r}")
    elif type(actual) is not type(expected) or actual != expected:   # strings, bools, None (and exact ints)
        problems.append(f"{where}: {actual!r} != {expected!r}")


def machine_fingerprint() -> dict:
    """What decides whether CPU training reproduces bit for bit: the CPU's model and feature flags (the SIMD
    kernels TensorFlow and oneDNN pick) and the numeric libraries' versions."""
    import platform
    from importlib.metadata import version
    cpu = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "flags") and key.strip() not in cpu:
                cpu[key.strip()] = value.strip()
    except OSError:
        pass
    flags = " ".join(sorted(cpu.get("flags", "").split()))
    return {"machine": platform.machine(), "cpu": cpu.get("model name", platform.processor()),
            "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "python": platform.python_version(),
            **{name: version(name) for name in ("tensorflow-cpu", "keras", "numpy", "gensim")
               if _installed(name)}}


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version
    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


@pytest.mark.slow
def test_metrics_match_recorded_baseline(pipeline):
    """Every stage's metrics equal those recorded in the fixture, timing and device keys dropped.

    On the machine type that recorded it (`machine_fingerprint`, or with DGCNN_IE_EXACT_BASELINE=1) every
    recorded number must be bit-equal and the submission, the ensemble's test predictions and the cleaned
    training file byte-identical; elsewhere the headline files (`HEADLINE_METRICS`) agree within the
    tolerances above and the rest is not compared (printed as skipped)."""
    repo = pipeline[0]
    expected = json.loads(BASELINE_FIXTURE.read_text(encoding="utf-8"))
    expected.pop("_comment")
    recorded_on = expected.pop("_machine")
    here = machine_fingerprint()
    exact = os.environ.get(EXACT_BASELINE_ENV) == "1" or here == recorded_on
    actual = _baseline_snapshot(repo)
    assert sorted(actual) == sorted(expected), "files differ from the recorded baseline"
    compared = sorted(expected) if exact else HEADLINE_METRICS
    if not exact:
        print(f"\nnot the recording machine ({here} != {recorded_on}): compared {len(compared)} headline files "
              f"within tolerances, skipped {len(expected) - len(compared)}")
    problems = []
    for path in compared:
        _compare_to_baseline(expected[path], actual[path], path, exact, problems)
    assert not problems, f"{len(problems)} differences from {BASELINE_FIXTURE.name}:\n" + "\n".join(problems[:60])


def _copy_repository(repo: Path, dst: Path) -> Path:
    """A copy of the module's repository, git history and DVC cache included, for a test that reruns stages:
    the shared one stays as the first `dvc repro` left it, whatever order the tests run in."""
    def ignore(folder, names):
        return ["tmp"] if Path(folder) == repo / ".dvc" else []     # DVC's locks and state: made anew
    shutil.copytree(repo, dst, symlinks=True, ignore=ignore)
    return dst


@pytest.mark.slow
def test_new_test_file_retrains_nothing(pipeline, tmp_path):
    """A team's next test file (`-S data.source.test=...`) re-predicts; no word2vec, train or cv model reruns."""
    env = pipeline[1]
    repo = _copy_repository(pipeline[0], tmp_path / "repo")   # this test reruns stages: in its own copy
    dvc = [sys.executable, "-m", "dvc"]
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    source = params["data"]["source"]
    lines = (repo / source["dir"] / source["test"]).read_text(encoding="utf-8").splitlines(keepends=True)
    (repo / source["dir"] / "test2.json").write_text("".join(lines[5:] + lines[:3]), encoding="utf-8")
    params["data"]["source"]["test"] = "test2.json"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    status = set(json.loads(_run(dvc + ["status", "--json"], repo, env)))
    assert not {s for s in status if s.split("@")[0] in ("word2vec", "train", "cv_raw", "clean", "cv", "folds")}, status
    out = _run(dvc + ["repro"], repo, env)
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {"prepare", "prior", "evaluate", "ensemble", "submit"}, ran
    submitted = repo / f"submission/{params['data']['format']}_submission.json"
    assert len(submitted.read_text(encoding="utf-8").splitlines()) == len(lines) - 2


@pytest.mark.slow
def test_exported_system_reproduces_the_submission_anywhere(pipeline, tmp_path):
    """`dgcnn-ie predict --model system` on the test file writes the pipeline's submission byte for byte,
    also from a copy of the folder used from another directory."""
    repo, env, _ = pipeline
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    source = params["data"]["source"]
    submitted = (repo / f"submission/{params['data']['format']}_submission.json").read_bytes()
    doc = json.loads((repo / "system/system.json").read_text(encoding="utf-8"))
    assert [m["family"] for m in doc["members"]] == ["plain", "prior"] and (repo / "system/kb.json").is_file()
    assert all(len(m["folds"]) == 2 for m in doc["members"]) and (repo / "system/word2vec/vectors.npy").is_file()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo / "system", elsewhere / "copied-system")
    shutil.copy(repo / source["dir"] / source["test"], elsewhere / "test.json")
    for model, cwd, test in ((repo / "system", repo, repo / source["dir"] / source["test"]),
                             (Path("copied-system"), elsewhere, Path("test.json"))):
        out = tmp_path / f"out-{cwd.name}.json"
        proc = subprocess.run([sys.executable, "-m", "dgcnn_ie.cli.predict", "--model", str(model), "--input", str(test),
                               "--output", str(out)], cwd=cwd, env={**env, "PYTHONPATH": str(repo / "src")},
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert out.read_bytes() == submitted
    text = json.loads(submitted.decode("utf-8").splitlines()[0])["text"]
    proc = subprocess.run([sys.executable, "-m", "dgcnn_ie.cli.predict", "--model", "copied-system", "--input", "-",
                           "--output", "-"], cwd=elsewhere, env={**env, "PYTHONPATH": str(repo / "src")},
                          input=text + "\n", capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["text"] == text and isinstance(json.loads(proc.stdout)["spo_list"], list)


def _csv_header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)))


@pytest.mark.slow
def test_experiment_table_and_plots(pipeline):
    """`dvc exp show` carries no per-predicate, timing or device column and no per-fold metrics;
    `dgcnn-ie show` fits in 60 columns with the headline dev F1s and the changed params; the top-level
    plots draw every fold model's curve and the per-predicate scores."""
    repo, env, _ = pipeline
    dvc = [sys.executable, "-m", "dvc"]
    headline = ["f1", "dev.single.f1", "dev.average/plain.f1", "dev.average/prior.f1", "dev.union.f1"]
    full = _csv_header(_run(dvc + ["exp", "show", "--csv"], repo, env))
    print(f"\ndvc exp show: {len(full)} columns")
    assert set(headline) <= set(full), full
    assert not [c for c in full if "per_predicate" in c or "second" in c or "device" in c or c.startswith(("reports/cv/", "reports/cv_raw/"))]
    path = repo / "params.yaml"
    original = path.read_text(encoding="utf-8")
    params = yaml.safe_load(original)
    params["decode"]["end_threshold"] = 0.55        # the workspace row differs from the baseline commit
    try:
        path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
        narrow = _csv_header(_run([sys.executable, "-m", "dgcnn_ie.cli.main", "show", "--csv"], repo, env))
    finally:
        path.write_text(original, encoding="utf-8")
    print(f"dgcnn-ie show: {len(narrow)} columns: {narrow}")
    # (reports/thresholds.json has a decode.end_threshold too, so DVC names the param by its file)
    assert len(narrow) <= 60 and set(headline) <= set(narrow) and "params.yaml:decode.end_threshold" in narrow, narrow
    assert not [c for c in narrow if c.startswith(("src/", "data/", "models/"))], narrow
    assert not {"params.yaml:decode.start_threshold", "decode.batch_size", "seed"} & set(narrow)  # unchanged params

    plots = json.loads(_run(dvc + ["plots", "show", "--json"], repo, env).strip().splitlines()[-1])
    assert not plots.get("errors"), plots["errors"]
    curves = plots["data"]["dev F1 per epoch, every fold model"][0]["content"]["data"]["values"]
    assert {row["model"] for row in curves} == {f"{run} fold {f}" for run in ("cv_raw", "cv/plain", "cv/prior")
                                                 for f in (0, 1)}
    bars = plots["data"]["dev F1 per predicate"][0]["content"]["data"]["values"]
    assert {row["filename"] for row in bars} == {"evaluate/per_predicate.json", "ensemble/per_predicate.json"}


@pytest.mark.slow
def test_ensemble_with_each_fold_models_own_kb(pipeline, tmp_path):
    """`-S prior.test_kb=fold` re-runs the ensemble only (no model retrains); the exported system holds one
    KB per fold and `dgcnn-ie predict` with it gives the ensemble's test predictions."""
    repo, env, _ = pipeline
    path = repo / "params.yaml"
    original = path.read_text(encoding="utf-8")
    params = yaml.safe_load(original)
    params["prior"]["test_kb"] = "fold"
    try:
        path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
        status = set(json.loads(_run([sys.executable, "-m", "dvc", "status", "--json"], repo, env)))
    finally:
        path.write_text(original, encoding="utf-8")
    assert status == {"ensemble"}, status            # its output then changes submit's and report's inputs
    copy = tmp_path / "repo"                        # run it in a copy: the other tests keep the module's state
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".dvc", ".git"))
    (copy / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = _run([sys.executable, "-m", "dgcnn_ie.stages", "ensemble"], copy, {**env, "PYTHONPATH": str(copy / "src")})
    assert "test-time knowledge base: fold" in out
    doc = json.loads((copy / "system/system.json").read_text(encoding="utf-8"))
    assert doc["test_kb"] == "fold" and not (copy / "system/kb.json").exists()
    assert sorted(p.name for p in (copy / "system").glob("kb_fold*.json")) == ["kb_fold0.json", "kb_fold1.json"]
    metrics = json.loads((copy / "reports/ensemble/metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["dev"]) == {"single", "average/plain", "average/prior", "union"}
    source = params["data"]["source"]
    predicted = tmp_path / "cli.json"
    _run([sys.executable, "-m", "dgcnn_ie.cli.predict", "--model", "system", "--input",
          str(Path(source["dir"]) / source["test"]), "--output", str(predicted)], copy,
         {**env, "PYTHONPATH": str(copy / "src")})

    def spo_sets(p):
        return [{(d["subject"], d["predicate"], d["object"]) for d in json.loads(line)["spo_list"]}
                for line in p.read_text(encoding="utf-8").splitlines()]
    assert spo_sets(predicted) == spo_sets(copy / "predictions/ensemble/test.json")


def _ran_and_restored(out: str) -> tuple[set[str], set[str]]:
    """(stages DVC ran, stages it restored from the run-cache) in a `dvc repro` / `dvc exp run` log."""
    return (set(re.findall(r"Running stage '([^']+)'", out)),
            set(re.findall(r"Stage '([^']+)' is cached - skipping run", out)))


@pytest.mark.slow
def test_every_stage_is_saved_to_the_run_cache(pipeline):
    """After the first `dvc repro`, DVC's run-cache holds an entry for every stage (none is `persist` or has an
    uncached plain output), and no checkpoint is left: each training removed its own once its outputs were saved."""
    from dvc.repo import Repo
    repo = pipeline[0]
    dvc_repo = Repo(str(repo))
    try:
        missing = [stage.addressing for stage in dvc_repo.index.stages if not dvc_repo.stage_cache._load(stage)]
        assert len(dvc_repo.index.stages) > 10
    finally:
        dvc_repo.close()
    assert not missing, f"stages without a run-cache entry: {missing}"
    assert not [p for p in (repo / "checkpoints").rglob("*") if p.is_file()]


@pytest.mark.slow
def test_params_switched_back_restore_every_stage_from_the_run_cache(pipeline, tmp_path):
    """`dvc exp run -S cv.epochs=1` retrains the fold models; `dvc exp run -S cv.epochs=<back>` then trains
    nothing: every stage that ran for the first comes back from the run-cache, byte for byte."""
    env = pipeline[1]
    repo = _copy_repository(pipeline[0], tmp_path / "repo")
    dvc = [sys.executable, "-m", "dvc"]
    before = {p: (repo / p).read_bytes() for p in ("reports/ensemble/metrics.json", "data/cleaned/train.json")}
    changed = _run(dvc + ["exp", "run", "-S", "cv.epochs=1"], repo, env)
    ran, _ = _ran_and_restored(changed)
    assert {"cv_raw@0", "cv_raw@1", "cv@plain-0", "cv@prior-1"} <= ran and "train" not in ran, ran
    back = _run(dvc + ["exp", "run", "-S", f"cv.epochs={TINY['cv']['epochs']}"], repo, env)
    ran_back, restored = _ran_and_restored(back)
    assert not ran_back, f"ran again instead of restoring: {ran_back}"
    assert ran <= restored, ran - restored
    assert {p: (repo / p).read_bytes() for p in before} == before


@pytest.mark.slow
def test_queued_experiments_share_the_fold_models(pipeline, tmp_path):
    """Two queued experiments that differ only downstream of the fold models (`decode.end_threshold`) and share
    new fold models (`cv.epochs=2`): the first trains the cv_raw fold models, the second restores them from the
    run-cache (run one after another, as `dvc exp run --run-all -j 1` does)."""
    env = pipeline[1]
    repo = _copy_repository(pipeline[0], tmp_path / "repo")
    dvc = [sys.executable, "-m", "dvc"]
    for threshold in ("0.5", "0.45"):
        _run(dvc + ["exp", "run", "--queue", "-n", f"end-{threshold}", "-S", "cv.epochs=2",
                    "-S", f"decode.end_threshold={threshold}", "cv_raw"], repo, env)
    _run(dvc + ["exp", "run", "--run-all", "-j", "1"], repo, env)
    logs = {name: _run(dvc + ["queue", "logs", name], repo, env) for name in ("end-0.5", "end-0.45")}
    trained = {name: _ran_and_restored(log)[0] for name, log in logs.items()}
    restored = {name: _ran_and_restored(log)[1] for name, log in logs.items()}
    assert trained["end-0.5"] >= {"cv_raw@0", "cv_raw@1"}, logs["end-0.5"][-3000:]
    assert not trained["end-0.45"] & {"cv_raw@0", "cv_raw@1"}, logs["end-0.45"][-3000:]
    assert restored["end-0.45"] >= {"cv_raw@0", "cv_raw@1"}, logs["end-0.45"][-3000:]
