"""Stage `clean`: self-distillation label cleaning by the votes of the `cv_raw` fold models (method §7).

Reads the prepared training file and each trained fold's predictions of the whole training
set (`predictions/cv_raw/fold<f>/train.json`, `cv.folds`). Writes `data/cleaned/train.json`
(the prepared file line for line, changed `spo_list`s rebuilt; with `clean.enabled: false`
an exact copy), `reports/clean/report.json` (every count, per predicate too),
`reports/clean/summary.md` and `reports/clean/metrics.json` (DVC metrics: triples added and
removed, sentences changed, whether the raw labels were kept).

Weak voters remove good labels: when the votes would remove more than
`clean.max_removed_share` of the labelled triples, the stage either refuses (an error
naming the key; `clean.too_many_removed: refuse`) or keeps the raw labels and says why in
the log and the report (`raw_labels`). This guard is this project's: the method (method.md §7)
removes every labelled triple no voter predicts, whatever the share.
"""
from __future__ import annotations

from .. import cleaning, layout
from ..config import Config, ConfigError
from ..data import load_schema, read_predictions, read_samples
from ..files import atomic_write
from ..metrics import write_metrics
from ..utils import log

PARAMS = ("data.format", "data.normalize", "data.on_error", "cv.folds", "clean")
CLEAN_METRIC_KEYS = ("added", "removed", "sentences_changed", "kept_raw_labels")


def run(config: Config) -> dict:
    """Vote, write the cleaned file and the reports; returns the report written."""
    data, cfg, folds = config.data, config.clean, list(config.cv.folds)
    schema = load_schema(layout.PREPARED_SCHEMA, data.format)
    samples = read_samples(layout.PREPARED_TRAIN, schema, data)
    gold = [set(s.triples) if s.labelled else None for s in samples]
    add_min, remove_max = cfg.add_min_votes, cfg.remove_max_votes
    kept_raw_because = None
    changes = [cleaning.Change() if g is not None else None for g in gold]
    labels = gold
    if cfg.enabled:
        predictions = [read_predictions(layout.cv_raw(f).train_predictions, samples, schema, data.normalize)
                       for f in folds]
        voted = cleaning.vote(gold, predictions, add_min, remove_max)
        removed, before = cleaning.removal_count(gold, voted)
        if removed > cfg.max_removed_share * before:
            reason = (f"the votes of {len(folds)} cv_raw models would remove {removed} of {before} labelled triples "
                      f"({removed / before:.0%}, more than clean.max_removed_share {cfg.max_removed_share:g}): "
                      f"they are probably undertrained (cv.epochs; their held-out F1 is in {layout.CV_RAW_REPORTS})")
            if cfg.too_many_removed == "refuse":
                raise ConfigError(f"clean.max_removed_share: {reason}")
            kept_raw_because = reason
        else:
            changes = voted
            labels = [cleaning.apply(g, c, schema.format) if c else None for g, c in zip(gold, changes)]
    cleaning.write_cleaned(layout.CLEANED_TRAIN, layout.PREPARED_TRAIN, samples, labels, changes, schema)
    report = cleaning.report(samples, changes, n_models=len(folds), add_min_votes=add_min,
                             remove_max_votes=remove_max, enabled=cfg.enabled, kept_raw_because=kept_raw_because)
    write_metrics(layout.CLEAN_REPORT, report)
    write_metrics(layout.CLEAN_METRICS, {k: report[k] for k in CLEAN_METRIC_KEYS})
    with atomic_write(layout.CLEAN_SUMMARY) as f:
        f.write(cleaning.summary_markdown(report))
    for warning in report["warnings"]:
        log(f"WARNING: {warning}")
    log(f"clean: +{report['added']} / -{report['removed']} triples in {report['sentences_changed']} sentences "
        f"({len(folds)} models) -> {layout.CLEANED_TRAIN}")
    return report
