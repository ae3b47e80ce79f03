"""Stage `report`: figures, error analysis and threshold tuning from what the pipeline produced.

Reads `data`, `decode`, `cv.folds`, `cv.families`, `ensemble.mode` and `report` from params.yaml, and

- the training histories `reports/train/history.json`, `reports/cv_raw/fold<f>/history.json`,
  `reports/cv/<family>/fold<f>/history.json` and the fold reports `reports/.../fold<f>.json`;
- `reports/clean/report.json` (cleaning statistics);
- `predictions/ensemble/dev.json` (the submitted system on dev) and the dev gold `data.dev`;
- with `report.tune_thresholds`: fold models and their held-out folds (`data.train`,
  `data/folds.json`), swept over `report.start_thresholds` x `report.end_thresholds`
  (plus the current `decode` thresholds): after `report.tune_on`, the `cv_raw` model
  of each fold, or the `cv` models of each fold that make up the submitted system
  (their predictions united, as `ensemble.mode` unites families; the prior family
  with `features/prior` candidates of that fold's KB, checked against
  `data/cleaned/train.json`).

Writes PNGs under `reports/figures/` (an index with captions in `reports/figures.md`),
`reports/error_analysis.md` / `.json`, and `reports/thresholds.json`: `decode` holds the
best start/end thresholds (the current ones when tuning is off or no pair beats them), `best` / `current`
their out-of-fold scores, `sweep` every grid point. Missing inputs are skipped and logged.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

from .. import plots
from ..data import Sample, atomic_write, load_folds, load_params, load_schema, read_samples
from ..ensemble import history_dir, model_dir, read_predictions, report_path, union
from ..error_analysis import analyse, write_report
from ..metrics import score, write_metrics
from ..tuning import best_thresholds, make_grid, score_sweep, sweep_predictions
from ..utils import log
from .clean import CLEANED_PATH
from .clean import REPORT_PATH as CLEAN_REPORT
from .ensemble import OUT_DIR as ENSEMBLE_DIR
from .folds import FOLDS_PATH
from .prior import OUT_PATH as CANDIDATES_PATH
from .prior import load_candidates

TRAIN_HISTORY = Path("reports/train/history.json")
FIGURES_DIR = Path("reports/figures")
FIGURES_INDEX = Path("reports/figures.md")
ERRORS_MD, ERRORS_JSON = "reports/error_analysis.md", "reports/error_analysis.json"
THRESHOLDS_PATH = "reports/thresholds.json"
TUNE_SOURCES = ("cv_raw", "cv")


def _read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _fold_model_api() -> tuple[Callable, Callable]:
    """(load a fold model folder, make a model input from texts): the real extractor (imports TensorFlow)."""
    from ..extractor import TextBatch, load_extractor
    return load_extractor, TextBatch


def tuning_members(params: dict) -> list[tuple[str, str]]:
    """(round, family) of the fold models whose per-fold union `report.tune_on` sweeps: `cv_raw`, the raw-label
    model; `cv`, the families the submission is made of (every family for `ensemble.mode: union`, else the first)."""
    source = params["report"].get("tune_on", "cv_raw")
    if source not in TUNE_SOURCES:
        raise ValueError(f"report.tune_on must be one of {TUNE_SOURCES}, got {source!r}")
    if source == "cv_raw":
        return [("raw", "plain")]
    families = list(params["cv"]["families"])
    return [("clean", fam) for fam in (families if params["ensemble"]["mode"] == "union" else families[:1])]


def describe_members(members: Sequence[tuple[str, str]]) -> str:
    """``cv_raw`` / ``cv/<family>`` names of tuning members, joined by " + "."""
    return " + ".join("cv_raw" if round_ == "raw" else f"cv/{family}" for round_, family in members)


def oof_sweep(samples: Sequence[Sample], assignment: Sequence[int], folds: Sequence[int], schema, grid,
              batch_size: int, load_model: Callable, make_inputs: Callable,
              members: Sequence[tuple[str, str]] = (("raw", "plain"),),
              candidates: Callable[[int], list] | None = None) -> tuple[list[dict], int]:
    """The threshold sweep of each fold's models (``members``: (round, family) pairs, their predictions united
    per sentence) on that fold's held-out sentences, pooled over folds and scored against the labels of
    ``samples``; returns the sweep and the number of sentences. ``candidates(fold)`` gives the prior candidates
    of every sample for that fold's KB (needed by a prior member); ``make_inputs(texts[, candidates])``."""
    gold, predictions = [], [[] for _ in grid]
    for fold in folds:
        held = sorted((i for i, a in enumerate(assignment) if a == fold), key=lambda i: len(samples[i].text))
        if not held:
            continue
        texts = [samples[i].text for i in held]
        swept = []
        for round_, family in members:
            model = load_model(model_dir(round_, family, fold))
            cands = None
            if family == "prior":
                if candidates is None:
                    raise ValueError("a prior-family member needs the prior candidates")
                every = candidates(fold)
                cands = [every[i] for i in held]
            batches = ((make_inputs(texts[i:i + batch_size]) if cands is None
                        else make_inputs(texts[i:i + batch_size], cands[i:i + batch_size]), texts[i:i + batch_size])
                       for i in range(0, len(texts), batch_size))
            swept.append(sweep_predictions(model, batches, schema, grid))
        for g, per_member in enumerate(zip(*swept, strict=True)):
            predictions[g] += union(per_member)
        gold += [set(samples[i].triples) for i in held]
        log(f"report: threshold sweep of fold {fold} ({describe_members(members)}) "
            f"on {len(held)} held-out sentences")
    return score_sweep(gold, predictions, grid, schema.format), len(gold)


def _histories(paths: dict[str, Path]) -> dict[str, list]:
    return {label: _read_json(p) for label, p in paths.items() if p.is_file()}


def _training_figures(folds, families) -> tuple[list[plots.Rendered], list[str]]:
    rendered, notes = [], []
    runs = [("training_single", "train stage: single model", {"single": TRAIN_HISTORY})]
    runs.append(("training_cv_raw", "cv_raw: raw-label fold models",
                 {f"fold {f}": history_dir("raw", "plain", f) / "history.json" for f in folds}))
    runs += [(f"training_cv_{fam}", f"cv: {fam} family on cleaned labels",
              {f"fold {f}": history_dir("clean", fam, f) / "history.json" for f in folds}) for fam in families]
    for name, title, paths in runs:
        found = _histories(paths)
        if found:
            rendered.append(plots.training_curves(found, FIGURES_DIR / f"{name}.png", title))
        else:
            notes.append(f"{title}: no history found ({', '.join(str(p) for p in paths.values())})")
    fold_f1 = {}
    for round_, fam in [("raw", "plain")] + [("clean", fam) for fam in families]:
        rows = [(f, _read_json(report_path(round_, fam, f))["oof"]["f1"]) for f in folds
                if report_path(round_, fam, f).is_file()]
        if rows:
            fold_f1["cv_raw" if round_ == "raw" else f"cv/{fam}"] = rows
    if fold_f1:
        rendered.append(plots.fold_scores(fold_f1, FIGURES_DIR / "cv_folds.png"))
    else:
        notes.append("held-out F1 per fold: no fold report found")
    return rendered, notes


def _thresholds(params: dict, schema, read) -> tuple[dict, list[plots.Rendered]]:
    cfg, decode = params["report"], params["decode"]
    current = (float(decode["start_threshold"]), float(decode["end_threshold"]))
    doc: dict = {"tuned": False, "decode": {"start_threshold": current[0], "end_threshold": current[1]}}
    if not cfg["tune_thresholds"]:
        return doc, []
    grid = sorted(set(make_grid(cfg["start_thresholds"], cfg["end_thresholds"])) | {current})
    samples = read(params["data"]["train"])
    folds = [int(f) for f in params["cv"]["folds"]]
    members = tuning_members(params)
    described = describe_members(members)

    # the prior stage made the train candidates for the cleaned file (line for line the raw one), as cv trains on it
    kb_samples = read(CLEANED_PATH) if any(family == "prior" for _, family in members) else None

    def candidates(fold):
        return load_candidates(CANDIDATES_PATH, "train", fold, samples=kb_samples, schema=schema)

    load_model, make_inputs = _fold_model_api()
    sweep, n = oof_sweep(samples, load_folds(FOLDS_PATH, samples), folds, schema, grid,
                         int(decode["batch_size"]), load_model, make_inputs, members, candidates)
    at_current = next(r for r in sweep if (r["start_threshold"], r["end_threshold"]) == current)
    best = best_thresholds(sweep)
    if best["f1"] <= at_current["f1"]:      # move only for a strict gain
        best = at_current
    doc = {"tuned": True, "source": f"{described} out-of-fold predictions, folds {folds}, {n} sentences",
           "decode": {"start_threshold": best["start_threshold"], "end_threshold": best["end_threshold"]},
           "best": best, "current": at_current, "f1_gain": best["f1"] - at_current["f1"], "sweep": sweep}
    log(f"report: best thresholds start {best['start_threshold']:g} end {best['end_threshold']:g}: "
        f"out-of-fold F1 {best['f1']:.4f} (current {at_current['f1']:.4f})")
    figure = plots.threshold_curves(sweep, FIGURES_DIR / "thresholds.png", best, at_current,
                                    f"decode thresholds on {described} out-of-fold predictions")
    return doc, [figure]


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage; returns a summary (figures written, thresholds, error totals)."""
    params = load_params(params_path)
    data, cfg = params["data"], params["report"]
    folds, families = list(params["cv"]["folds"]), list(params["cv"]["families"])
    schema = load_schema(data["schema"], data["format"])

    def read(path):
        return read_samples(path, schema, data)

    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    for stale in FIGURES_DIR.glob("*.png"):
        stale.unlink()
    rendered, notes = _training_figures(folds, families)

    if Path(CLEAN_REPORT).is_file():
        clean = _read_json(Path(CLEAN_REPORT))
        title = "label cleaning" + ("" if clean.get("enabled", True) else " (disabled)")
        rendered.append(plots.cleaning_stats(clean["per_predicate"], FIGURES_DIR / "cleaning.png", title))
    else:
        notes.append(f"label cleaning: {CLEAN_REPORT} not found")

    dev_predictions = Path(ENSEMBLE_DIR) / "dev.json"
    dev = read(data["dev"]) if data.get("dev") else []
    errors: dict = {}
    title = f"Error analysis: {dev_predictions} against {data['dev']}"
    if not dev or not all(s.labelled for s in dev):
        notes.append("dev: no labelled dev set, so no per-predicate scores and no error analysis")
        title = "Error analysis: not done (no labelled dev set)"
    elif not dev_predictions.is_file():
        notes.append(f"dev: {dev_predictions} not found, so no per-predicate scores and no error analysis")
        title = f"Error analysis: not done ({dev_predictions} not found)"
    else:
        pred = read_predictions(dev_predictions, dev, schema, data["normalize"])
        scores = score([set(s.triples) for s in dev], pred, schema.format)
        rendered.append(plots.per_predicate_f1(
            scores["per_predicate"], FIGURES_DIR / "per_predicate_f1.png",
            f"dev per-predicate F1, submitted system (overall F1 {scores['f1']:.4f})"))
        errors = analyse(dev, pred, int(cfg["error_top"]), int(cfg["error_examples"]))
    if not errors:
        errors = analyse([], [], int(cfg["error_top"]), int(cfg["error_examples"]))
    write_report(errors, ERRORS_MD, ERRORS_JSON, title)

    thresholds, figures = _thresholds(params, schema, read)
    rendered += figures
    write_metrics(THRESHOLDS_PATH, thresholds)

    with atomic_write(FIGURES_INDEX) as f:
        f.write("# Figures\n\n" + "\n".join(r.markdown(FIGURES_INDEX.parent) for r in rendered))
        if notes:
            f.write("\n## Not drawn\n\n" + "".join(f"- {n}\n" for n in notes))
    for note in notes:
        log(f"report: skipped {note}")
    log(f"report: {len(rendered)} figures -> {FIGURES_DIR}, error analysis -> {ERRORS_MD}, "
        f"thresholds -> {THRESHOLDS_PATH}")
    return {"figures": [r.path.name for r in rendered], "notes": notes, "thresholds": thresholds["decode"],
            "errors": {k: errors[k] for k in ("tp", "missed", "spurious")}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
