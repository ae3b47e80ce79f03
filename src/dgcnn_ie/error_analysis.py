"""Error analysis: per predicate, the most frequent missed and spurious triples, with their sentences.

Works on flat triples (a DuIE 2.0 slot such as ``饰演_inWork`` is its own
predicate here, while the metric matches whole complex spo). Each error gets a
kind, found against the other side's triples of the same sentence:
``predicate`` (same subject and object, another predicate), ``object`` (same
subject and predicate), ``subject`` (same predicate and object), else
``unmatched``; the matching triples are kept with each example.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Sequence

from .data import Sample, Triple
from .files import atomic_write
from .metrics import prf

KINDS = ("predicate", "object", "subject", "unmatched")


def error_kind(t: Triple, others: set[Triple]) -> tuple[str, list[Triple]]:
    """How ``t`` relates to the other side's triples of its sentence (see module doc), and those triples."""
    for kind, same in (("predicate", lambda o: (o.subject, o.object) == (t.subject, t.object)),
                       ("object", lambda o: (o.subject, o.predicate) == (t.subject, t.predicate)),
                       ("subject", lambda o: (o.predicate, o.object) == (t.predicate, t.object))):
        related = sorted(o for o in others if same(o))
        if related:
            return kind, related
    return "unmatched", []


def analyse(samples: Sequence[Sample], predictions: Sequence[set[Triple]], top: int = 10,
            examples: int = 3) -> dict:
    """Counts per predicate (tp, missed, spurious, P/R/F1, error kinds) and, for missed and spurious,
    the ``top`` most frequent (subject, object) pairs with up to ``examples`` sentences each.
    Predicates are ordered by number of errors, most first."""
    if len(samples) != len(predictions):
        raise ValueError(f"{len(samples)} samples but {len(predictions)} prediction sets")
    counts: dict[str, Counter] = defaultdict(Counter)
    errors: dict[tuple[str, str], dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for sample, pred in zip(samples, predictions):
        gold, pred = set(sample.triples), set(pred)
        for t in gold & pred:
            counts[t.predicate]["tp"] += 1
        for side, wrong, others in (("missed", gold - pred, pred), ("spurious", pred - gold, gold)):
            for t in sorted(wrong):
                kind, related = error_kind(t, others)
                counts[t.predicate][side] += 1
                counts[t.predicate][f"{side}_{kind}"] += 1
                errors[(t.predicate, side)][(t.subject, t.object)].append(
                    {"source": sample.source, "text": sample.text, "kind": kind,
                     "related": [[o.subject, o.predicate, o.object] for o in related]})
    predicates = []
    for name, c in counts.items():
        p, r, f = prf(c["tp"], c["tp"] + c["spurious"], c["tp"] + c["missed"])
        entry = {"predicate": name, "support": c["tp"] + c["missed"], "tp": c["tp"], "missed": c["missed"],
                 "spurious": c["spurious"], "precision": p, "recall": r, "f1": f}
        for side in ("missed", "spurious"):
            entry[f"{side}_kinds"] = {k: c[f"{side}_{k}"] for k in KINDS if c[f"{side}_{k}"]}
            pairs = sorted(errors[(name, side)].items(), key=lambda kv: (-len(kv[1]), kv[0]))
            entry[f"top_{side}"] = [{"subject": s, "object": o, "count": len(found), "examples": found[:examples]}
                                    for (s, o), found in pairs[:top]]
        predicates.append(entry)
    predicates.sort(key=lambda e: (-(e["missed"] + e["spurious"]), e["predicate"]))
    totals = {k: sum(e[k] for e in predicates) for k in ("tp", "missed", "spurious")}
    p, r, f = prf(totals["tp"], totals["tp"] + totals["spurious"], totals["tp"] + totals["missed"])
    return {"sentences": len(samples), **totals, "precision": p, "recall": r, "f1": f,
            "top": top, "examples": examples, "predicates": predicates}


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(analysis: dict, title: str = "Error analysis") -> str:
    """A readable page: a summary table of every predicate, then its top missed and spurious triples."""
    a = analysis
    lines = [f"# {title}", "",
             f"{a['sentences']} sentences; flat triples (DuIE 2.0 slots counted on their own): "
             f"{a['tp']} correct, {a['missed']} missed, {a['spurious']} spurious "
             f"(P {a['precision']:.4f}, R {a['recall']:.4f}, F1 {a['f1']:.4f}).", "",
             "Error kinds, against the other side's triples of the same sentence: *predicate* (same subject "
             "and object), *object* (same subject and predicate), *subject* (same predicate and object), "
             "*unmatched* (none of these).", "",
             "| predicate | support | F1 | missed | spurious | missed kinds | spurious kinds |",
             "|---|---|---|---|---|---|---|"]
    for e in a["predicates"]:
        kinds = [", ".join(f"{k} {n}" for k, n in e[f"{side}_kinds"].items()) for side in ("missed", "spurious")]
        lines.append(f"| {_cell(e['predicate'])} | {e['support']} | {e['f1']:.3f} | {e['missed']} | "
                     f"{e['spurious']} | {kinds[0]} | {kinds[1]} |")
    lines.append("")
    for e in a["predicates"]:
        if not (e["missed"] or e["spurious"]):
            continue
        lines += [f"## {e['predicate']}", ""]
        for side in ("missed", "spurious"):
            if not e[f"top_{side}"]:
                continue
            lines += [f"**{side}** ({e[side]} in all; most frequent first):", ""]
            for item in e[f"top_{side}"]:
                lines.append(f"- ({_cell(item['subject'])}, {_cell(e['predicate'])}, {_cell(item['object'])}) "
                             f"x{item['count']}")
                for ex in item["examples"]:
                    other = "predicted" if side == "missed" else "gold"
                    related = "; ".join("(" + ", ".join(map(_cell, r)) + ")" for r in ex["related"])
                    lines.append(f"  - `{ex['source']}` [{ex['kind']}] {_cell(ex['text'])}"
                                 + (f" — {other}: {related}" if related else ""))
            lines.append("")
    return "\n".join(lines)


def write_report(analysis: dict, markdown_path, json_path, title: str = "Error analysis") -> None:
    """The markdown page and the full analysis as JSON, both atomically."""
    with atomic_write(json_path) as f:
        json.dump(analysis, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with atomic_write(markdown_path) as f:
        f.write(to_markdown(analysis, title))
