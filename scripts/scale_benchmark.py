"""Time every non-training stage at competition size: wall time and peak RSS, at two sizes.

    python scripts/scale_benchmark.py                        # full (173k / 21.6k / 20k) and quarter size
    python scripts/scale_benchmark.py --scales 0.25 --keep /tmp/scale   # one size, keep the work folders

For each size the project's generator (`dgcnn_ie.synthetic`) writes a LIC2019-format data set
scaled from LIC2019's full release (train 173,108 / dev 21,639 lines, test 20,000), and the real
stages run on it, each in its own process (`python -m dgcnn_ie.stages <stage>`, the repository's
params.yaml with `data.source.dir` pointed at the generated folder and all 8 folds):
prepare, folds, word2vec, clean (its voting and IO), prior, submit. The stages that need
trained models get stand-ins for the model outputs, so that their own work is what is timed:
clean reads 8 cv_raw prediction files of the whole training set (the gold labels, each fold
model missing a seeded 10% of the triples), and submit reads an ensemble test prediction file.
The ensemble stage's IO (reading the 3 x 8 out-of-fold prediction files, scoring and uniting
them, writing the test predictions) is timed as `ensemble_io` through the stage's own
`oof_scores` and `write_predictions`; its model averaging is training-side work (throughput:
scripts/benchmark.py). Peak RSS is each stage process's own (`wait4`); the benchmark process itself stays
small (stand-ins are written by child processes), since a forked child starts at its parent's resident size. The report marks each
stage against the goal (`GOAL_SECONDS`, `GOAL_RSS_MIB`): <= 10 minutes and <= 4 GiB on 2 cores, roughly
linear in the input.

Writes reports/benchmark/scale.json and scale.md (scale_postag.* with --postag). Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))

FULL = {"train": 173108, "dev": 21639, "test": 20000}   # LIC2019: train_data / dev_data lines; test-1 size
STAGES = ("prepare", "folds", "word2vec", "clean", "prior", "ensemble_io", "submit")
GOAL_SECONDS, GOAL_RSS_MIB = 600, 4096
OUT_DIR = REPO_ROOT / "reports" / "benchmark"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.25, 1.0], help="sizes as shares of FULL")
    ap.add_argument("--keep", type=Path, help="keep the work folders under this folder")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="where scale.json / scale.md go")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--postag", action="store_true",
                    help="generate LIC2019's `postag` field too (real LIC2019 lines carry it: about 3x the bytes)")
    ap.add_argument("--ensemble-io", type=Path, help=argparse.SUPPRESS)   # internal: one size's ensemble IO
    ap.add_argument("--stand-ins", type=Path, help=argparse.SUPPRESS)     # internal: its stand-in predictions
    ap.add_argument("--stand-ins-raw", type=Path, help=argparse.SUPPRESS)  # internal: clean's stand-in predictions
    return ap.parse_args(argv)


def run_measured(args: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stderr tail) of one child process, which must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, err[-400:]


def make_project(work: Path, sizes: dict, seed: int, postag: bool = False) -> dict:
    """Generated data + params; returns the generator's own timing."""
    work.mkdir(parents=True)
    env = _env()
    seconds, rss, _ = run_measured([sys.executable, "-m", "dgcnn_ie.synthetic", "--out", str(work / "source"),
                                    "--seed", str(seed), *[f"--{k}={v}" for k, v in sizes.items()],
                                    *(["--postag"] if postag else [])], work, env)
    shutil.copytree(REPO_ROOT / "data/extra", work / "data/extra")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"]["dir"] = "source"
    params["cv"]["folds"] = list(range(params["folds"]["k"]))
    params["segment"]["cache"] = ""          # time the segmentation itself, not a warm cache
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return {"seconds": seconds, "peak_rss_mib": rss}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}


def stand_in_cv_raw_predictions(work: Path, folds: list[int], seed: int) -> None:
    """What 8 cv_raw models would write for clean to vote with: the gold labels, each model missing a
    seeded 10% of the triples (so the votes do add and remove)."""
    from dgcnn_ie import layout
    from dgcnn_ie.data import load_schema, read_dataset, write_predictions
    os.chdir(work)
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    samples, _ = read_dataset(layout.PREPARED_TRAIN, schema)
    for fold in folds:
        rng = random.Random(seed * 100 + fold)
        preds = [{t for t in s.triples if rng.random() >= 0.1} for s in samples]
        write_predictions(layout.cv_raw(fold).train_predictions, samples, preds, schema)


def stand_in_oof_predictions(work: Path, folds: list[int], families: list[str], seed: int) -> None:
    """What the cv_raw and cv models would write: each fold's held-out predictions (gold minus a seeded 10%)."""
    from dgcnn_ie import layout
    from dgcnn_ie.data import load_schema, read_dataset, write_predictions
    from dgcnn_ie.folds import load_folds
    os.chdir(work)
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    raw, _ = read_dataset(layout.PREPARED_TRAIN, schema)
    assignment = load_folds(layout.FOLDS, raw)
    rng = random.Random(seed)
    for run_of in [layout.cv_raw] + [lambda f, fam=fam: layout.cv(fam, f) for fam in families]:
        for f in folds:
            held = [s for s, a in zip(raw, assignment) if a == f]
            write_predictions(run_of(f).oof_predictions, held, [{t for t in s.triples if rng.random() >= 0.1}
                                                                 for s in held], schema)


def ensemble_io(work: Path, folds: list[int], families: list[str]) -> dict:
    """The ensemble stage's IO at this size, read as the stage reads it (its own process: its peak RSS)."""
    from dgcnn_ie import layout
    from dgcnn_ie.data import load_schema, read_dataset, write_predictions
    from dgcnn_ie.folds import load_folds
    from dgcnn_ie.stages.ensemble import oof_scores
    os.chdir(work)
    t0 = time.perf_counter()
    schema = load_schema(layout.PREPARED_SCHEMA, "lic2019")
    raw, _ = read_dataset(layout.PREPARED_TRAIN, schema, keep_raw=False)
    cleaned, _ = read_dataset(layout.CLEANED_TRAIN, schema, keep_raw=False)
    scores = oof_scores(raw, cleaned, load_folds(layout.FOLDS, raw), folds, families, schema, "none")
    test, _ = read_dataset(layout.PREPARED_TEST, schema)
    write_predictions(layout.ENSEMBLE_TEST, test, [set() for _ in test], schema)
    return {"seconds": time.perf_counter() - t0, "oof_union_f1": scores.get("clean/union", {}).get("f1")}


def run_size(work: Path, scale: float, seed: int, postag: bool = False) -> dict:
    sizes = {k: max(8, round(v * scale)) for k, v in FULL.items()}
    out = {"scale": scale, "sizes": sizes, "postag": postag, "generate": make_project(work, sizes, seed, postag),
           "stages": {}}
    env = _env()
    here = os.getcwd()
    try:
        for stage in STAGES:
            if stage == "clean":        # in a child: a forked stage would start at this process's resident size
                run_measured([sys.executable, __file__, "--stand-ins-raw", str(work), "--seed", str(seed)], work, env)
            if stage == "ensemble_io":     # the stand-ins in one process, the timed IO in another (its peak RSS)
                run_measured([sys.executable, __file__, "--stand-ins", str(work), "--seed", str(seed)], work, env)
                _, rss, tail = run_measured([sys.executable, __file__, "--ensemble-io", str(work)], work, env)
                seconds = json.loads((work / "ensemble_io.json").read_text(encoding="utf-8"))["seconds"]
            else:
                seconds, rss, tail = run_measured([sys.executable, "-m", "dgcnn_ie.stages", stage], work, env)
            out["stages"][stage] = {"seconds": seconds, "peak_rss_mib": rss}
            print(f"  {stage}: {seconds:.1f} s, peak RSS {rss:.0f} MiB", file=sys.stderr, flush=True)
    finally:
        os.chdir(here)
    out["input_mib"] = {p.name: p.stat().st_size / 2 ** 20 for p in sorted((work / "source").glob("*.json"))}
    return out


def markdown(doc: dict) -> str:
    runs = doc["runs"]
    lines = ["# Non-training stages at competition size", "",
             f"Command: `{doc['command']}`  ", f"Machine: {doc['machine']}; {doc['date']}.", "",
             "Input files: " + "; ".join(f"{r['scale']:g} x train {r['input_mib']['train.json']:.0f} MiB" for r in runs)
             + (" (with LIC2019's `postag` field)" if runs[0].get("postag") else
                " (without LIC2019's `postag` field; see scale_postag.md for lines that carry it)") + ".  ",
             "Sizes (train / dev / test lines): " + "; ".join(
                 f"{r['scale']:g} x = {r['sizes']['train']:,} / {r['sizes']['dev']:,} / {r['sizes']['test']:,}"
                 for r in runs) + ".", "",
             "| stage | " + " | ".join(f"{r['scale']:g} x: s | {r['scale']:g} x: peak MiB" for r in runs)
             + (" | time ratio | goal (<= 600 s, <= 4 GiB) |" if len(runs) == 2 else " |"),
             "|---|" + "---|---|" * len(runs) + ("---|---|" if len(runs) == 2 else "")]
    for stage in STAGES:
        cells = []
        for r in runs:
            s = r["stages"][stage]
            cells += [f"{s['seconds']:.1f}", f"{s['peak_rss_mib']:.0f}"]
        row = f"| {stage} | " + " | ".join(cells)
        if len(runs) == 2:
            a, b = (r["stages"][stage] for r in runs)
            ok = all(r["stages"][stage]["seconds"] <= GOAL_SECONDS and r["stages"][stage]["peak_rss_mib"] <= GOAL_RSS_MIB
                     for r in runs)
            row += f" | {b['seconds'] / max(a['seconds'], 1e-9):.2f} (sizes {runs[1]['scale'] / runs[0]['scale']:g}x)"
            row += f" | {'met' if ok else 'NOT met'}"
        lines.append(row + " |")
    lines += ["", "Stages that need trained models read stand-ins for the model outputs (see the script's "
              "docstring). `ensemble_io` runs in a process of its own after the stand-in prediction files are "
              "written. Data generation: " + "; ".join(
                  f"{r['scale']:g} x {r['generate']['seconds']:.1f} s" for r in runs) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.stand_ins_raw:
        params = yaml.safe_load((args.stand_ins_raw / "params.yaml").read_text(encoding="utf-8"))
        return stand_in_cv_raw_predictions(args.stand_ins_raw, params["cv"]["folds"], args.seed)
    if args.stand_ins or args.ensemble_io:
        work = args.stand_ins or args.ensemble_io
        params = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))
        folds, families = params["cv"]["folds"], params["cv"]["families"]
        if args.stand_ins:
            return stand_in_oof_predictions(work, folds, families, args.seed)
        result = ensemble_io(work, folds, families)
        (work / "ensemble_io.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
        return result
    root = args.keep or Path(tempfile.mkdtemp(prefix="dgcnn-scale-"))
    try:
        runs = []
        for scale in sorted(args.scales):
            print(f"scale {scale:g}", file=sys.stderr, flush=True)
            runs.append(run_size(root / f"scale-{scale:g}", scale, args.seed, args.postag))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    doc = {"command": "python scripts/scale_benchmark.py" + (" " + " ".join(argv) if argv else
                                                               " " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
           "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
           "date": time.strftime("%Y-%m-%d"), "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "scale_postag" if args.postag else "scale"
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (args.out / f"{name}.md").write_text(markdown(doc), encoding="utf-8")
    print(markdown(doc))
    return doc


if __name__ == "__main__":
    main()
