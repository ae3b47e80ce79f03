"""Collect the metrics of finished pipeline workspaces into one report folder.

A run on real data is a workspace after `dvc exp run` / `dvc repro` (this repository,
or a clone of it used to run several experiments side by side on one machine). This
script copies each run's metric files and parameters into ``OUT/<name>/``, draws the
dev-F1 curves of their `train` / `cv` models into one PNG and writes ``OUT/runs.md``:
one table of the single-model scores (`train` + `evaluate` stages) and one of the
CV systems (`ensemble` stage: single fold model, family averages, union), each cell
read from the copied files.

    python scripts/compare_runs.py --out reports/real/duie2 \\
        --run dgcnn=../run_dgcnn --run bilstm=../run_bilstm --run cv-small=../run_cv
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import yaml

from dgcnn_ie.files import atomic_write
from dgcnn_ie.plots import training_curves

# What is copied from a run workspace (when present), relative to its root. Only numbers:
# example sentences and triples (``examples`` keys) are dropped from JSON files, since a
# report of a run on someone's data must not carry that data into this repository.
COPIED = ("params.yaml", "dvc.lock", "reports/data/read.json", "reports/word2vec/stats.json",
          "reports/train/metrics.json", "reports/train/run.json", "reports/train/history.json",
          "reports/evaluate/metrics.json", "reports/ensemble/metrics.json", "reports/ensemble/scores.json",
          "reports/clean/report.json", "reports/prior/stats.json")
EXAMPLE_KEYS = frozenset({"examples"})
COPIED_GLOBS = ("reports/cv_raw/fold*.json", "reports/cv_raw/fold*/history.json",
                "reports/cv/*/fold*.json", "reports/cv/*/fold*/history.json")


def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def locked_outputs(src: Path) -> dict[str, str]:
    """``{path: md5}`` of every stage output recorded in the run's ``dvc.lock``."""
    lock = yaml.safe_load((src / "dvc.lock").read_text(encoding="utf-8")) or {}
    return {o["path"]: o.get("md5", "") for stage in (lock.get("stages") or {}).values()
            for o in stage.get("outs", [])}


def is_fresh(src: Path, rel: str, locked: dict[str, str]) -> bool:
    """Whether ``rel`` is what the run's own ``dvc.lock`` says its stage wrote (same md5).

    A workspace also holds metric files it did not produce (committed from another run,
    or left by a stage that is not part of this run's target): those are not this run's
    numbers."""
    if rel in ("params.yaml", "dvc.lock"):
        return True
    if rel in locked:
        return hashlib.md5((src / rel).read_bytes()).hexdigest() == locked[rel]
    # a file inside a directory output (a fold's history in reports/cv/<family>/fold<k>/): the whole
    # directory must still hash to what dvc.lock recorded
    folder = next((d for d in locked if rel.startswith(d.rstrip("/") + "/")), None)
    return folder is not None and directory_md5(src / folder) == locked[folder]


def directory_md5(folder: Path) -> str:
    """DVC's hash of a directory output (``<md5>.dir``), as dvc.lock records it."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree
    tree = Tree()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        tree.add(path.relative_to(folder).parts, Meta(size=path.stat().st_size),
                 HashInfo("md5", hashlib.md5(path.read_bytes()).hexdigest()))
    tree.digest()
    return tree.hash_info.value


def copy_run(src: Path, dst: Path) -> list[str]:
    """Copy the run's fresh metric files into ``dst`` (replacing it); returns the relative paths
    copied. Files that the run's ``dvc.lock`` does not vouch for are left out (and named)."""
    if not (src / "params.yaml").is_file() or not (src / "dvc.lock").is_file():
        raise FileNotFoundError(f"{src}: not a pipeline workspace that has run (no params.yaml / dvc.lock)")
    if dst.exists():
        shutil.rmtree(dst)
    present = [p for p in COPIED if (src / p).is_file()]
    for pattern in COPIED_GLOBS:
        present += sorted(p.relative_to(src).as_posix() for p in src.glob(pattern) if p.is_file())
    locked = locked_outputs(src)
    copied = [p for p in present if is_fresh(src, p, locked)]
    stale = sorted(set(present) - set(copied))
    if stale:
        print(f"{src}: left out, not produced by this run (dvc.lock): {', '.join(stale)}")
    for rel in copied:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".json"):
            with atomic_write(dst / rel) as f:
                json.dump(without_examples(json.loads((src / rel).read_text(encoding="utf-8"))), f,
                          ensure_ascii=False, indent=1)
                f.write("\n")
        else:
            shutil.copy2(src / rel, dst / rel)
    return copied


def without_examples(obj):
    """``obj`` with every ``examples`` entry removed, at any depth."""
    if isinstance(obj, dict):
        return {k: without_examples(v) for k, v in obj.items() if k not in EXAMPLE_KEYS}
    if isinstance(obj, list):
        return [without_examples(v) for v in obj]
    return obj


def _fmt(x) -> str:
    return "" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def single_row(name: str, run: Path) -> list[str] | None:
    train = _load(run / "reports/train/metrics.json")
    if train is None:
        return None
    # seconds and device: in reports/train/run.json; a run without that file has them in its metrics file
    info = _load(run / "reports/train/run.json") or train
    params = yaml.safe_load((run / "params.yaml").read_text(encoding="utf-8"))
    model = params["model"]
    size = f"{model['arch']}, width {model['width']}" + (
        f", {len(model['dilations'])} conv layers" if model["arch"] == "dgcnn" else "")
    return [name, size, f"{train['best_epoch']} / {train['epochs']}",
            _fmt(train["dev_precision"]), _fmt(train["dev_recall"]), _fmt(train["dev_f1"]),
            f"{info['seconds_per_epoch']:.0f}", info.get("device", "")]


def ensemble_rows(name: str, run: Path) -> list[list[str]]:
    # every count is in reports/ensemble/scores.json; a run without that file has them in its metrics file
    metrics = _load(run / "reports/ensemble/scores.json") or _load(run / "reports/ensemble/metrics.json")
    if metrics is None:
        return []
    models = metrics.get("models", {})
    rows = []
    for system, s in metrics.get("dev", {}).items():
        family = system.split("/", 1)[1] if "/" in system else ""
        count = models.get(family, 1) if system.startswith("average") else (
            sum(models.values()) if system == "union" else 1)
        rows.append([name, f"dev {system}", str(count), _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"])])
    for system, s in metrics.get("oof", {}).items():
        rows.append([name, f"out-of-fold {system}", "", _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"])])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def histories(name: str, run: Path) -> dict[str, list[dict]]:
    """Dev-F1 histories of the run's models, keyed ``<run>`` / ``<run> <round>/<family> fold <f>``."""
    out = {}
    single = _load(run / "reports/train/history.json")
    if single:
        out[name] = single
    for path in sorted(run.glob("reports/cv_raw/fold*/history.json")):
        out[f"{name} raw/plain {path.parent.name}"] = _load(path)
    for path in sorted(run.glob("reports/cv/*/fold*/history.json")):
        out[f"{name} {path.parent.parent.name} {path.parent.name}"] = _load(path)
    return out


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=DIR",
                        help="a finished pipeline workspace, repeatable")
    parser.add_argument("--out", required=True, help="report folder, e.g. reports/real/duie2")
    args = parser.parse_args(argv)
    out = Path(args.out)
    runs = []
    for spec in args.run:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            parser.error(f"--run {spec!r}: expected NAME=DIR")
        runs.append((name, Path(folder)))
    singles, systems, curves = [], [], {}
    for name, src in runs:
        copy_run(src, out / name)
        run = out / name
        row = single_row(name, run)
        if row:
            singles.append(row)
        systems += ensemble_rows(name, run)
        curves.update(histories(name, run))
    text = [f"# Runs collected by scripts/compare_runs.py\n\nEach run's files are in `{out.as_posix()}/<run>/`.\n"]
    if singles:
        text.append("\n## Single model (`train` stage; dev = model-selection set)\n\n")
        text.append(_table(["run", "model", "best / epochs", "P", "R", "F1", "s/epoch", "device"],
                           singles))
    if systems:
        text.append("\n## CV systems (`ensemble` stage)\n\n")
        text.append(_table(["run", "system", "models", "P", "R", "F1"], systems))
    if curves:
        rendered = training_curves(curves, out / "dev_f1.png", title="dev F1 per epoch")
        text.append(f"\n![dev F1 per epoch]({Path(rendered.path).name})\n")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "runs.md") as f:
        f.write("".join(text))
    print(f"wrote {out / 'runs.md'}")
    return out / "runs.md"


if __name__ == "__main__":
    main()
