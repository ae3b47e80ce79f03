"""Stage `ensemble`: out-of-fold scores, the family averages and their union (method §7).

Reads `data`, `decode`, `cv.folds`, `cv.families` and `ensemble.mode`. Writes
`reports/ensemble/metrics.json`:

- `oof`: per round and family (`raw/plain`, `clean/plain`, `clean/prior`, and
  `clean/union` of the families), the scores of the held-out predictions of all
  folds concatenated, against the labels that round trained on (clean rounds
  also against the raw labels, `f1_vs_raw_labels`, comparable with `raw/plain`);
- `dev` (when `data.dev` is set): a single model (first fold of the first
  family), each family average and the union;

and `predictions/ensemble/dev.json` (when `data.dev` is set) and `test.json`,
the predictions of `ensemble.mode` (single | average: the first family | union).
Every fold model is loaded once.
"""
from __future__ import annotations

import argparse

from .. import ensemble
from ..data import load_folds, load_params, load_schema, read_samples, write_predictions
from ..decode import Thresholds
from ..metrics import score, write_metrics
from ..utils import log
from .clean import CLEANED_PATH
from .folds import FOLDS_PATH
from .prior import OUT_PATH as CANDIDATES_PATH
from .prior import load_candidates

METRICS_PATH = "reports/ensemble/metrics.json"
OUT_DIR = "predictions/ensemble"
SUMMARY_KEYS = ("precision", "recall", "f1", "tp", "n_pred", "n_gold")


def _summary(scores: dict) -> dict:
    return {k: scores[k] for k in SUMMARY_KEYS}


def oof_scores(raw, cleaned, assignment, folds, families, schema, normalize) -> dict:
    """Scores of the concatenated held-out predictions, per round and family (and their union)."""
    out = {}
    order = [i for f in folds for i, a in enumerate(assignment) if a == f]
    raw_gold = [set(raw[i].triples) for i in order]
    clean_gold = [set(cleaned[i].triples) for i in order]
    rounds = [("raw", "plain", raw, raw_gold)] + [("clean", fam, cleaned, clean_gold) for fam in families]
    clean_preds = []
    for round_, fam, samples, gold in rounds:
        pred = []
        for f in folds:
            held = [s for s, a in zip(samples, assignment) if a == f]
            path = ensemble.predictions_dir(round_, fam, f) / "oof.json"
            pred += ensemble.read_predictions(path, held, schema, normalize)
        entry = _summary(score(gold, pred, schema.format))
        if round_ == "clean":
            entry["f1_vs_raw_labels"] = score(raw_gold, pred, schema.format)["f1"]
            clean_preds.append(pred)
        out[f"{round_}/{fam}"] = {**entry, "sentences": len(order)}
    if len(clean_preds) > 1:
        united = ensemble.union(clean_preds)
        out["clean/union"] = {**_summary(score(clean_gold, united, schema.format)),
                              "f1_vs_raw_labels": score(raw_gold, united, schema.format)["f1"],
                              "sentences": len(order)}
    return out


def main(params_path: str = "params.yaml") -> dict:
    """Run the stage; returns the metrics written."""
    params = load_params(params_path)
    data, mode = params["data"], params["ensemble"]["mode"]
    folds, families = list(params["cv"]["folds"]), list(params["cv"]["families"])
    if mode not in ensemble.MODES:
        raise ValueError(f"ensemble.mode must be one of {ensemble.MODES}, got {mode!r}")
    if not folds or not families:
        raise ValueError("cv.folds and cv.families must not be empty")
    schema = load_schema(data["schema"], data["format"])
    thresholds = Thresholds.from_params(params["decode"])
    batch_size = int(params["decode"]["batch_size"])

    def read(path):
        return read_samples(path, schema, data)

    raw, cleaned = read(data["train"]), read(CLEANED_PATH)
    assignment = load_folds(FOLDS_PATH, raw)
    metrics = {"oof": oof_scores(raw, cleaned, assignment, folds, families, schema, data["normalize"])}

    dirs = {fam: [ensemble.model_dir("clean", fam, f) for f in folds] for fam in families}
    loaded = ensemble.load_models([d for fam in families for d in dirs[fam]])
    members = {fam: [loaded[str(d)] for d in dirs[fam]] for fam in families}
    single = members[families[0]][:1]

    def run(split: str, samples, needed: set[str]) -> dict[str, list]:
        """Predictions of the systems in ``needed`` (single, each family, union) on ``samples``."""
        cands = (load_candidates(CANDIDATES_PATH, split, samples=samples, schema=schema)
                 if "prior" in families else None)
        out = {}
        for fam in families:
            if fam in needed or "union" in needed:
                out[fam] = ensemble.predict(members[fam], samples, schema, thresholds, batch_size,
                                            cands if fam == "prior" else None)
        if "single" in needed:
            out["single"] = (out[families[0]] if len(folds) == 1 and families[0] in out else
                             ensemble.predict(single, samples, schema, thresholds, batch_size,
                                              cands if families[0] == "prior" else None))
        if "union" in needed:
            out["union"] = ensemble.union([out[fam] for fam in families])
        return out

    def chosen(preds: dict) -> list:
        return ensemble.select(mode, preds.get("single"), preds.get(families[0]), preds.get("union"))

    if data.get("dev"):
        dev = read(data["dev"])
        preds = run("dev", dev, {"single", "union", *families})
        gold = [set(s.triples) for s in dev]
        metrics["dev"] = {"single": _summary(score(gold, preds["single"], schema.format)),
                          **{f"average/{fam}": _summary(score(gold, preds[fam], schema.format)) for fam in families},
                          "union": _summary(score(gold, preds["union"], schema.format))}
        write_predictions(f"{OUT_DIR}/dev.json", dev, chosen(preds), schema)
        log("dev F1: " + ", ".join(f"{k} {v['f1']:.4f}" for k, v in metrics["dev"].items()))
    test = read(data["test"])
    needed = {"single": {"single"}, "average": {families[0]}, "union": {"union"}}[mode]
    write_predictions(f"{OUT_DIR}/test.json", test, chosen(run("test", test, needed)), schema)
    metrics.update(mode=mode, models={fam: len(folds) for fam in families})
    write_metrics(METRICS_PATH, metrics)
    log("oof F1: " + ", ".join(f"{k} {v['f1']:.4f}" for k, v in metrics["oof"].items())
        + f"; test predictions ({mode}) -> {OUT_DIR}/test.json")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params.yaml", help="parameters file (default params.yaml)")
    main(parser.parse_args().params)
