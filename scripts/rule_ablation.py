#!/usr/bin/env python
"""The effect of each prediction rule (`rules.predictions.*`, dgcnn_ie.rules) on a trained model's dev F1.

    python scripts/rule_ablation.py --workspace RUN [--model models/single] [--out reports/real/x/rules.md]

RUN is a pipeline workspace that has run `prepare` and trained the model (its `params.yaml`, the
prepared schema and dev file, the model folder). The dev file is decoded once, at the workspace's
`decode` thresholds, without rules; then scored with no rule, with each rule alone, with every rule,
and with every rule but one, each applied once to the same predictions (the rows are exact, not
samples; rules interact, so "all but one" is not "all" minus "only"). The label rules (`rules.labels.*`) act on the training labels, so their
effect needs two trainings (README, docs/deviations.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", required=True, help="a pipeline workspace with a trained model")
    ap.add_argument("--model", default="models/single", help="model folder, relative to the workspace")
    ap.add_argument("--out", default=None, help="write the markdown table here (and the figures as .json)")
    ap.add_argument("--label", default=None, help="what the table is about (default: the workspace's data)")
    args = ap.parse_args(argv)

    workspace = Path(args.workspace).resolve()
    out = Path(args.out).resolve() if args.out else None
    os.chdir(workspace)
    from dgcnn_ie import layout
    from dgcnn_ie.config import load_config
    from dgcnn_ie.data import Triple, load_schema, read_dataset, read_samples, restore_case
    from dgcnn_ie.decode import Thresholds
    from dgcnn_ie.extractor import load_extractor
    from dgcnn_ie.metrics import score
    from dgcnn_ie.rules import PREDICTION_RULES, RuleSet

    config = load_config()
    schema = load_schema(layout.PREPARED_SCHEMA, config.data.format)
    dev = read_samples(layout.PREPARED_DEV, schema, config.data)
    extractor = load_extractor(args.model, word2vec_path=layout.WORD2VEC_DIR)
    extractor.thresholds = Thresholds.from_config(config.decode)
    raw = extractor.predict(dev, config.decode.batch_size, show_progress=False)
    gold = [set(s.triples) for s in dev]
    texts = [s.text for s in dev]
    # the released labels as they are (case-sensitive), predictions mapped back to the text's spelling as
    # the pipeline writes them: comparable across data.normalize settings
    released, _ = read_dataset(layout.PREPARED_DEV, schema, on_error=config.data.on_error, normalize="none")
    released_gold = [set(s.triples) for s in released]

    def released_f1(pred) -> float:
        restored = [{Triple(restore_case(t.subject, s), t.predicate, restore_case(t.object, s)) for t in p}
                    for s, p in zip(dev, pred)]
        return score(released_gold, restored, schema.format)["f1"]

    def row(name: str, rules: RuleSet) -> dict:
        pred = rules.apply_each(texts, raw)
        s = score(gold, pred, schema.format)
        changed = sum(len(a ^ b) for a, b in zip(raw, pred))
        return {"rules": name, "enabled": list(rules.enabled), "precision": s["precision"], "recall": s["recall"],
                "f1": s["f1"], "tp": s["tp"], "n_pred": s["n_pred"], "triples_changed": changed,
                "f1_released_labels": released_f1(pred)}

    every = RuleSet.build(PREDICTION_RULES, schema)
    rows = [row("none", RuleSet())]
    rows += [row(f"only {name}", RuleSet.build([name], schema)) for name in every.enabled]
    rows.append(row("all", every))
    rows += [row(f"all but {name}", RuleSet.build([n for n in every.enabled if n != name], schema))
             for name in every.enabled]
    base = rows[0]["f1"]
    label = args.label or f"{config.data.source.dir} dev ({len(dev)} sentences, data.normalize {config.data.normalize})"
    lines = [f"# Prediction rules on {label}",
             "",
             f"Model `{args.model}` of the workspace, decoded once at start {config.decode.start_threshold:g} / end "
             f"{config.decode.end_threshold:g}; each row applies the rules named to those predictions. Command:",
             "",
             f"    python scripts/rule_ablation.py --workspace RUN --model {args.model}" + (f" --out {args.out}" if args.out else ""),
             "",
             f"Rules that are no-ops here (their predicates are not in the schema): {', '.join(every.inactive) or 'none'}.",
             "",
             "P/R/F1 are scored as the pipeline scores dev (labels read with `data.normalize`); the last column",
             "scores against the released labels as they are, with the predictions mapped back to the text's",
             "spelling as the pipeline writes them (the same as F1 when `data.normalize` is none).",
             "",
             "| rules | P | R | F1 | Δ F1 vs none | triples changed | F1, released labels |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['rules']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['f1'] - base:+.4f} | "
              f"{r['triples_changed']} | {r['f1_released_labels']:.4f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    result = {"label": label, "model": args.model, "inactive": list(every.inactive), "rows": rows}
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        out.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main()
