"""Stage `ensemble`: out-of-fold scores, the family averages and their union (method §7).

Reads the cv models of every family in `cv.families` and trained fold in `cv.folds`, their
held-out predictions and the cv_raw ones, and the prior candidates for the families with
prior features: the prior stage's (one KB on the whole cleaned training file) with
`prior.test_kb: all`, or with `fold` each fold model's own KB (the cleaned training samples outside
its fold, as in its training; kg-2019's way), built here. Every system is predicted by one
`system.Predictor` (the code `dgcnn-ie predict --model system` runs): the prediction rules of
`rules.predictions` apply once to each system's final triples (a family average, the union).
Writes `reports/ensemble/scores.json`:

- `oof`: per round and family (`raw/plain`, the cv_raw models; `clean/<family>`; and
  `clean/union` of the families), the scores of the held-out predictions of all folds
  concatenated, against the labels that round trained on (clean rounds also against the
  raw labels, `f1_vs_raw_labels`, comparable with `raw/plain`);
- `dev` (when the dev file is labelled): a single model (first fold of the first family),
  each family average and the union;
- `mode` and the number of models per family submitted;

`reports/ensemble/metrics.json`, the DVC metrics: of these, the dev precision / recall / F1 and the
out-of-fold F1 only (the headline columns of `dvc exp show`); `reports/ensemble/per_predicate.json`
(DVC plot data): the submitted system's dev scores per predicate;

and `predictions/ensemble/dev.json` and `test.json`, the predictions of the system
`ensemble.mode` submits (`ensemble.system_members`). That system is exported to `system/`
(`dgcnn_ie.system`: its models, word vectors, knowledge base, thresholds, mode), and the test
predictions are made by the exported folder itself, which `dgcnn-ie predict --model system`
applies outside the pipeline.
"""
from __future__ import annotations

from .. import ensemble, layout
from ..config import Config
from ..data import load_schema, read_predictions, read_samples, write_predictions
from ..decode import Thresholds
from ..folds import load_folds, split
from ..metrics import headline, per_predicate_rows, score, write_metrics
from ..prior import KnowledgeBase, load_candidates
from ..rules import RuleSet
from ..system import Member as SystemMember
from ..system import Predictor, System, export_system
from ..utils import log

PARAMS = ("data.format", "data.normalize", "data.on_error", "decode", "rules.predictions", "cv.folds", "cv.families",
          "families", "prior.test_kb", "ensemble")
SUMMARY_KEYS = ("precision", "recall", "f1", "tp", "n_pred", "n_gold")


def _summary(scores: dict) -> dict:
    return {k: scores[k] for k in SUMMARY_KEYS}


def oof_scores(raw, cleaned, assignment, folds, families, schema, normalize) -> dict:
    """Scores of the concatenated held-out predictions, per round and family (and their union)."""
    out = {}
    order = [i for f in folds for i, a in enumerate(assignment) if a == f]
    raw_gold = [set(raw[i].triples) for i in order]
    clean_gold = [set(cleaned[i].triples) for i in order]
    rounds = [("raw/plain", layout.cv_raw, raw, raw_gold)]
    rounds += [(f"clean/{fam}", lambda f, fam=fam: layout.cv(fam, f), cleaned, clean_gold) for fam in families]
    clean_preds = []
    for key, run_of, samples, gold in rounds:
        pred = []
        for f in folds:
            held = [s for s, a in zip(samples, assignment) if a == f]
            pred += read_predictions(run_of(f).oof_predictions, held, schema, normalize)
        entry = _summary(score(gold, pred, schema.format))
        if key != "raw/plain":
            entry["f1_vs_raw_labels"] = score(raw_gold, pred, schema.format)["f1"]
            clean_preds.append(pred)
        out[key] = {**entry, "sentences": len(order)}
    if len(clean_preds) > 1:
        united = ensemble.union(clean_preds)
        out["clean/union"] = {**_summary(score(clean_gold, united, schema.format)),
                              "f1_vs_raw_labels": score(raw_gold, united, schema.format)["f1"],
                              "sentences": len(order)}
    return out


def load_predictor(config: Config, schema, cleaned, assignment, rules: RuleSet) -> Predictor:
    """The cv models of every family and fold as one `Predictor`. Prior families: with `prior.test_kb: fold` each
    fold model reads its own fold's KB (the cleaned training samples outside its fold, as in its training); with
    `all`, the prior stage's candidates of the split predicted."""
    folds, families = list(config.cv.folds), list(config.cv.families)
    dirs = {fam: {f: layout.cv(fam, f).model_dir for f in folds} for fam in families}
    loaded = ensemble.load_models([d for fam in families for d in dirs[fam].values()],
                                  word2vec_path=layout.WORD2VEC_DIR)
    prior_families = [fam for fam in families if config.families[fam].prior]
    fold_kbs = {f: KnowledgeBase.build(split(cleaned, assignment, f)[0], schema).compact() for f in folds} \
        if config.prior.test_kb == "fold" and prior_families else None
    if prior_families:
        log(f"prior families' test-time knowledge base: {config.prior.test_kb}")
    return Predictor({fam: {f: loaded[str(d)] for f, d in dirs[fam].items()} for fam in families}, prior_families,
                     schema, Thresholds.from_config(config.decode), config.decode.batch_size, rules, fold_kbs=fold_kbs)


def dev_systems(config: Config, labelled: bool) -> dict[str, dict[str, list[int]]]:
    """The systems predicted on dev: the submitted one, and when dev is labelled (scored) a single model, each
    family's average and the union."""
    folds, families = list(config.cv.folds), list(config.cv.families)
    submitted = {"submitted": ensemble.system_members(config.ensemble.mode, families, folds)}
    if not labelled:
        return submitted
    return {"single": ensemble.system_members("single", families, folds),
            **{f"average/{fam}": {fam: folds} for fam in families},
            "union": ensemble.system_members("union", families, folds), **submitted}


def run(config: Config) -> dict:
    """Score, predict dev and test with the submitted system; returns the metrics written."""
    data, mode = config.data, config.ensemble.mode
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    rules = RuleSet.from_config(config.rules.predictions, schema)
    log(f"prediction rules: {rules.describe()}")
    raw, cleaned = (read_samples(path, schema, data, keep_raw=False)     # scored, not written
                    for path in (layout.PREPARED_TRAIN, layout.CLEANED_TRAIN))
    assignment = load_folds(layout.FOLDS, raw)
    scores = {"oof": oof_scores(raw, cleaned, assignment, list(config.cv.folds), list(config.cv.families), schema,
                                data.normalize)}
    predictor = load_predictor(config, schema, cleaned, assignment, rules)
    fold_kbs = predictor.fold_kbs

    dev = read_samples(layout.PREPARED_DEV, schema, data)
    labelled = bool(dev) and all(s.labelled for s in dev)
    systems = dev_systems(config, labelled)
    submitted = systems["submitted"]
    cands = load_candidates(layout.PRIOR_DIR, "dev", samples=dev, schema=schema) \
        if fold_kbs is None and any(map(predictor.reads_prior, systems.values())) else None
    preds = predictor.predict_systems(dev, systems, candidates=cands)
    write_predictions(layout.ENSEMBLE_DEV, dev, preds["submitted"], schema)
    per_predicate: list = []
    if labelled:
        gold = [set(s.triples) for s in dev]
        scores["dev"] = {name: _summary(score(gold, preds[name], schema.format))
                         for name in systems if name != "submitted"}
        per_predicate = per_predicate_rows(score(gold, preds["submitted"], schema.format))
        log("dev F1: " + ", ".join(f"{k} {v['f1']:.4f}" for k, v in scores["dev"].items()))
    else:
        log("dev: not labelled, so no dev scores")
    # the submitted system as one folder, and the test predictions made WITH it: `dgcnn-ie predict --model
    # system` is the same code path (the same `Predictor`), so its output equals the submission
    kb = KnowledgeBase.build(cleaned, schema) if fold_kbs is None and predictor.reads_prior(submitted) else None
    export_system(layout.SYSTEM_DIR, fmt=data.format, normalize=data.normalize, mode=mode,
                  fold_count=max(assignment) + 1,      # folds.k: make_folds leaves no fold empty
                  members=[SystemMember(fam, fam in predictor.prior_families, tuple(fs))
                           for fam, fs in submitted.items()],
                  model_dirs={(fam, f): layout.cv(fam, f).model_dir for fam, fs in submitted.items() for f in fs},
                  schema=schema, thresholds=predictor.thresholds, batch_size=predictor.batch_size,
                  word2vec_dir=layout.WORD2VEC_DIR, kb=kb, rules=rules, fold_kbs=fold_kbs)
    test = read_samples(layout.PREPARED_TEST, schema, data)
    write_predictions(layout.ENSEMBLE_TEST, test, System.load(layout.SYSTEM_DIR).predict(test), schema)
    scores.update(mode=mode, models={fam: len(fs) for fam, fs in submitted.items()})
    write_metrics(layout.ENSEMBLE_SCORES, scores)
    write_metrics(layout.ENSEMBLE_PER_PREDICATE, per_predicate)
    metrics = {"dev": {name: headline(s) for name, s in scores.get("dev", {}).items()},
               "oof": {name: {"f1": s["f1"]} for name, s in scores["oof"].items()}}
    write_metrics(layout.ENSEMBLE_METRICS, metrics)
    log("oof F1: " + ", ".join(f"{k} {v['f1']:.4f}" for k, v in scores["oof"].items())
        + f"; test predictions ({mode}) -> {layout.ENSEMBLE_TEST}")
    return scores
