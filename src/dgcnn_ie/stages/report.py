"""Stage `report`: figures, error analysis and threshold tuning from what the pipeline produced.

Reads

- the training histories `reports/train/history.json`, `reports/cv_raw/fold<f>/history.json`,
  `reports/cv/<family>/fold<f>/history.json` and the fold reports `reports/.../fold<f>.json`;
- `reports/clean/report.json` (cleaning statistics);
- `predictions/ensemble/dev.json` (the submitted system on dev) and the prepared dev file's labels;
- with `report.tune_thresholds`: fold models and their held-out folds (the prepared train file,
  `data/folds.json`), swept over `report.start_thresholds` x `report.end_thresholds`
  (plus the current `decode` thresholds): after `report.tune_on`, the `cv_raw` model
  of each fold, or the `cv` models of each fold that make up the submitted system
  (their predictions united, as `ensemble.mode` unites families; a family with prior
  features with `features/prior` candidates of that fold's KB, checked against
  `data/cleaned/train.json`). The sweep scores the models' own triples, without the prediction rules
  (`rules.predictions`) that the submitted system then applies.

Writes PNGs under `reports/figures/` (an index with captions in `reports/figures.md`),
`reports/error_analysis.md` / `.json`, `reports/fold_curves.json` (DVC plot data: the dev F1 of
every fold model per epoch, one row per model and epoch, drawn overlaid by the top-level plot of
dvc.yaml), and `reports/thresholds.json` (DVC metrics): `decode` holds the best start/end thresholds
(the current ones when tuning is off or no pair beats them), `best.f1` / `current.f1` their
out-of-fold F1 and `f1_gain` the difference; with tuning, `reports/threshold_sweep.json` holds
what they were chosen from (`source`, `best` / `current` with every count, `sweep` every grid point).
Missing inputs are skipped and logged.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable

from .. import layout, plots
from ..config import Config
from ..data import load_schema, read_predictions, read_samples
from ..ensemble import system_members
from ..error_analysis import analyse, write_report
from ..files import atomic_write
from ..folds import load_folds
from ..metrics import score, write_metrics
from ..prior import load_candidates
from ..tuning import Member, best_thresholds, describe_members, make_grid, oof_sweep
from ..utils import log

PARAMS = ("data.format", "data.normalize", "data.on_error", "decode", "cv.folds", "cv.families", "families",
          "ensemble.mode", "report")


def _read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _fold_model_api() -> tuple[Callable, Callable]:
    """(load a fold model folder, make a model input from texts): the real extractor (imports TensorFlow)."""
    from ..extractor import TextBatch, load_extractor
    return functools.partial(load_extractor, word2vec_path=layout.WORD2VEC_DIR), TextBatch


def _histories(paths: dict[str, Path]) -> dict[str, list]:
    return {label: _read_json(p) for label, p in paths.items() if p.is_file()}


def _training_figures(folds, families) -> tuple[list[plots.Rendered], list[str]]:
    rendered, notes = [], []
    fold_runs = [("training_cv_raw", "cv_raw: raw-label fold models", layout.cv_raw)]
    fold_runs += [(f"training_cv_{fam}", f"cv: {fam} family on cleaned labels", lambda f, fam=fam: layout.cv(fam, f))
                  for fam in families]
    runs = [("training_single", "train stage: single model", {"single": layout.TRAIN_HISTORY}, None)]
    runs += [(name, title, {f"fold {f}": run_of(f).history_dir / layout.HISTORY_JSON for f in folds}, run_of(folds[0]).name)
             for name, title, run_of in fold_runs]
    curves = []                 # every fold model's dev F1 per epoch, from the histories read for the figures
    for name, title, paths, run_name in runs:
        found = _histories(paths)
        if found:
            rendered.append(plots.training_curves(found, layout.FIGURES_DIR / f"{name}.png", title))
        else:
            notes.append(f"{title}: no history found ({', '.join(str(p) for p in paths.values())})")
        if run_name is not None:
            curves += [{"model": f"{run_name} {label}", "epoch": row["epoch"], "dev_f1": row["dev_f1"]}
                       for label, rows in found.items() for row in rows]
    write_metrics(layout.FOLD_CURVES, curves)
    fold_f1 = {}
    for _, _, run_of in fold_runs:
        rows = [(f, _read_json(run_of(f).report_path)["oof"]["f1"]) for f in folds if run_of(f).report_path.is_file()]
        if rows:
            fold_f1[run_of(folds[0]).name] = rows
    if fold_f1:
        rendered.append(plots.fold_scores(fold_f1, layout.FIGURES_DIR / "cv_folds.png"))
    else:
        notes.append("held-out F1 per fold: no fold report found")
    return rendered, notes


def tuning_members(config: Config) -> list[Member]:
    """The fold models whose per-fold union `report.tune_on` sweeps: `cv_raw`, the raw-label model; `cv`,
    the families of the system the submission is made of (`ensemble.system_members`)."""
    if config.report.tune_on == "cv_raw":
        return [Member(None, False)]
    families = system_members(config.ensemble.mode, config.cv.families, config.cv.folds)
    return [Member(fam, config.families[fam].prior) for fam in families]


def _thresholds(config: Config, schema, read) -> tuple[dict, list[plots.Rendered]]:
    cfg, decode = config.report, config.decode
    current = (decode.start_threshold, decode.end_threshold)
    doc: dict = {"tuned": False, "decode": {"start_threshold": current[0], "end_threshold": current[1]}}
    if not cfg.tune_thresholds:
        write_metrics(layout.THRESHOLD_SWEEP, {"source": "not tuned (report.tune_thresholds: false)", "sweep": []})
        return doc, []
    grid = sorted(set(make_grid(cfg.start_thresholds, cfg.end_thresholds)) | {current})
    samples = read(layout.PREPARED_TRAIN)
    folds = list(config.cv.folds)
    members = tuning_members(config)
    described = describe_members(members)

    # the prior stage made the train candidates for the cleaned file (line for line the raw one), as cv trains on it
    kb_samples = read(layout.CLEANED_TRAIN) if any(m.uses_prior for m in members) else None

    def candidates(fold):
        return load_candidates(layout.PRIOR_DIR, "train", fold, samples=kb_samples, schema=schema)

    load_model, make_inputs = _fold_model_api()
    sweep, n = oof_sweep(samples, load_folds(layout.FOLDS, samples), folds, schema, grid,
                         decode.batch_size, load_model, make_inputs, members, candidates)
    at_current = next(r for r in sweep if (r["start_threshold"], r["end_threshold"]) == current)
    best = best_thresholds(sweep)
    if best["f1"] <= at_current["f1"]:      # move only for a strict gain
        best = at_current
    write_metrics(layout.THRESHOLD_SWEEP, {
        "source": f"{described} out-of-fold predictions, folds {folds}, {n} sentences",
        "best": best, "current": at_current, "sweep": sweep})
    doc = {"tuned": True,
           "decode": {"start_threshold": best["start_threshold"], "end_threshold": best["end_threshold"]},
           "best": {"f1": best["f1"]}, "current": {"f1": at_current["f1"]}, "f1_gain": best["f1"] - at_current["f1"]}
    log(f"report: best thresholds start {best['start_threshold']:g} end {best['end_threshold']:g}: "
        f"out-of-fold F1 {best['f1']:.4f} (current {at_current['f1']:.4f})")
    figure = plots.threshold_curves(sweep, layout.FIGURES_DIR / "thresholds.png", best, at_current,
                                    f"decode thresholds on {described} out-of-fold predictions")
    return doc, [figure]


def run(config: Config) -> dict:
    """Draw, analyse, tune; returns a summary (figures written, thresholds, error totals)."""
    data, cfg = config.data, config.report
    folds, families = list(config.cv.folds), list(config.cv.families)
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)

    def read(path):
        return read_samples(path, schema, data)

    layout.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    for stale in layout.FIGURES_DIR.glob("*.png"):
        stale.unlink()
    rendered, notes = _training_figures(folds, families)

    if layout.CLEAN_REPORT.is_file():
        clean = _read_json(layout.CLEAN_REPORT)
        title = "label cleaning" + ("" if clean.get("enabled", True) else " (disabled)")
        rendered.append(plots.cleaning_stats(clean["per_predicate"], layout.FIGURES_DIR / "cleaning.png", title))
    else:
        notes.append(f"label cleaning: {layout.CLEAN_REPORT} not found")

    dev_predictions = layout.ENSEMBLE_DEV
    dev = read(layout.PREPARED_DEV)
    errors: dict = {}
    title = f"Error analysis: {dev_predictions} against {layout.PREPARED_DEV}"
    if not dev or not all(s.labelled for s in dev):
        notes.append("dev: no labelled dev set, so no per-predicate scores and no error analysis")
        title = "Error analysis: not done (no labelled dev set)"
    elif not dev_predictions.is_file():
        notes.append(f"dev: {dev_predictions} not found, so no per-predicate scores and no error analysis")
        title = f"Error analysis: not done ({dev_predictions} not found)"
    else:
        pred = read_predictions(dev_predictions, dev, schema, data.normalize)
        scores = score([set(s.triples) for s in dev], pred, schema.format)
        rendered.append(plots.per_predicate_f1(
            scores["per_predicate"], layout.FIGURES_DIR / "per_predicate_f1.png",
            f"dev per-predicate F1, submitted system (overall F1 {scores['f1']:.4f})"))
        errors = analyse(dev, pred, cfg.error_top, cfg.error_examples)
    if not errors:
        errors = analyse([], [], cfg.error_top, cfg.error_examples)
    write_report(errors, layout.ERRORS_MD, layout.ERRORS_JSON, title)

    thresholds, figures = _thresholds(config, schema, read)
    rendered += figures
    write_metrics(layout.THRESHOLDS, thresholds)

    with atomic_write(layout.FIGURES_INDEX) as f:
        f.write("# Figures\n\n" + "\n".join(r.markdown(layout.FIGURES_INDEX.parent) for r in rendered))
        if notes:
            f.write("\n## Not drawn\n\n" + "".join(f"- {n}\n" for n in notes))
    for note in notes:
        log(f"report: skipped {note}")
    log(f"report: {len(rendered)} figures -> {layout.FIGURES_DIR}, error analysis -> {layout.ERRORS_MD}, "
        f"thresholds -> {layout.THRESHOLDS}")
    return {"figures": [r.path.name for r in rendered], "notes": notes, "thresholds": thresholds["decode"],
            "errors": {k: errors[k] for k in ("tp", "missed", "spurious")}}

