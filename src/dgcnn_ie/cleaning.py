"""Label cleaning by self-distillation (method §7): the cross-validated models vote on the training labels.

Each of the ``n`` raw-label fold models predicts the whole training set. In a
labelled sentence, a triple that is not labelled but predicted by at least
``add_min_votes`` models (capped at ``n``) is added; a labelled triple predicted
by at most ``remove_max_votes`` models is removed (``-1``: never). Votes are on
flat triples; for DuIE 2.0 the result is re-assembled into complex spo, so a slot
whose base object is gone goes too, and the report counts what the file holds.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from .config import ConfigError
from .data import Sample, Schema, Triple, restore_case, assemble_duie, typed_spo
from .files import atomic_write

MAX_EXAMPLES = 5


@dataclass
class Change:
    """What cleaning did to one sentence (triples sorted; votes per changed triple)."""

    added: list[Triple] = field(default_factory=list)
    removed: list[Triple] = field(default_factory=list)
    votes: dict[Triple, int] = field(default_factory=dict)


def effective_add_votes(add_min_votes: int, n_models: int) -> int:
    """The add threshold actually used: ``min(add_min_votes, n_models)``."""
    return min(add_min_votes, n_models)


def check_thresholds(add_min_votes: int, remove_max_votes: int, n_models: int) -> None:
    """Refuse thresholds that make no sense for ``n_models`` voters (e.g. removing every label)."""
    if n_models < 1:
        raise ConfigError("cleaning needs the predictions of at least one model")
    if not isinstance(add_min_votes, int) or add_min_votes < 1:
        raise ConfigError(f"clean.add_min_votes must be an integer >= 1, got {add_min_votes!r}")
    if not isinstance(remove_max_votes, int) or not -1 <= remove_max_votes < n_models:
        raise ConfigError(f"clean.remove_max_votes must be an integer in [-1, {n_models - 1}] with "
                         f"{n_models} models (-1 = never remove), got {remove_max_votes!r}")


def vote(gold: Sequence[set[Triple] | None], predictions: Sequence[Sequence[set[Triple]]],
         add_min_votes: int, remove_max_votes: int) -> list[Change | None]:
    """Per sentence, the triples to add and remove; ``None`` where ``gold`` is ``None`` (unlabelled: untouched).

    ``predictions[m][i]`` is model ``m``'s triple set for sentence ``i``.
    """
    check_thresholds(add_min_votes, remove_max_votes, len(predictions))
    for m, preds in enumerate(predictions):
        if len(preds) != len(gold):
            raise ValueError(f"model {m} has {len(preds)} prediction sets for {len(gold)} sentences")
    add_at = effective_add_votes(add_min_votes, len(predictions))
    changes: list[Change | None] = []
    for i, labels in enumerate(gold):
        if labels is None:
            changes.append(None)
            continue
        votes = Counter(t for preds in predictions for t in preds[i])
        added = sorted(t for t, n in votes.items() if n >= add_at and t not in labels)
        removed = sorted(t for t in labels if votes[t] <= remove_max_votes)
        changes.append(Change(added, removed, {t: votes[t] for t in added + removed}))
    return changes


def flatten_duie(spo_list: list[dict]) -> set[Triple]:
    """Complex DuIE spo (as `assemble_duie` makes them) -> flat triples."""
    return {Triple(spo["subject"], p if k == "@value" else f"{p}_{k}", v)
            for spo in spo_list for p in [spo["predicate"]] for k, v in spo["object"].items()}


def apply(gold: set[Triple], change: Change, fmt: str) -> set[Triple]:
    """The cleaned label set; for DuIE 2.0 what survives re-assembly (``change`` is corrected to match)."""
    labels = (gold - set(change.removed)) | set(change.added)
    if fmt == "duie2":
        labels = flatten_duie(assemble_duie(labels))
        change.added = sorted(labels - gold)
        change.removed = sorted(gold - labels)
    return labels


def cleaned_line(sample: Sample, labels: set[Triple], change: Change | None, schema: Schema) -> dict:
    """The sample's original JSON object; if it changed, a copy with its `spo_list` rebuilt.

    LIC2019: the original spo dicts of the kept triples stay as they were (types
    included) and added triples get the schema's types. DuIE 2.0: the spo_list is
    re-assembled from the flat labels with `data.assemble_duie`.
    """
    if change is None or not (change.added or change.removed):
        return sample.raw
    if schema.format == "duie2":
        spo_list = [typed_spo(restore_case(spo["subject"], sample), spo["predicate"],
                              {k: restore_case(v, sample) for k, v in spo["object"].items()}, schema)
                    for spo in assemble_duie(labels)]
    else:
        kept = {t: None for t in sorted(labels)}  # ordered set of triples still to write
        spo_list = []
        for spo, t in zip(sample.raw.get("spo_list", []), _raw_triples(sample)):
            if t is None or t in kept:
                spo_list.append(spo)       # unreadable dicts are left for the reader to report again
                kept.pop(t, None)
        spo_list += [typed_spo(restore_case(t.subject, sample), t.predicate, restore_case(t.object, sample), schema)
                     for t in kept]
    return {**sample.raw, "spo_list": spo_list}


def _raw_triples(sample: Sample) -> list[Triple | None]:
    """The flat triple each raw LIC2019 spo dict stands for (matched against the sample's triples), else None."""
    by_key = {(t.subject, t.predicate, t.object): t for t in sample.triples}
    folded = {(t.subject.lower(), t.predicate, t.object.lower()): t for t in sample.triples}
    out = []
    for spo in sample.raw.get("spo_list", []):
        if not isinstance(spo, dict) or not all(isinstance(spo.get(k), str) for k in ("subject", "predicate", "object")):
            out.append(None)
            continue
        key = (spo["subject"], spo["predicate"], spo["object"])
        out.append(by_key.get(key) or folded.get((key[0].lower(), key[1], key[2].lower())))
    return out


def _line_number(sample: Sample) -> int:
    return int(sample.source.rsplit(":", 1)[1])


def write_cleaned(path, raw_path, samples: Sequence[Sample], labels: Sequence[set[Triple] | None],
                  changes: Sequence[Change | None], schema: Schema) -> None:
    """The cleaned training file, atomically: ``raw_path`` line for line (so line numbers and the
    samples read from it stay the same), with the `spo_list` of each changed sample rebuilt."""
    changed = {_line_number(s): cleaned_line(s, lab, c, schema)
               for s, lab, c in zip(samples, labels, changes, strict=True) if c and (c.added or c.removed)}
    with open(raw_path, encoding="utf-8", newline="") as src, atomic_write(path) as f:
        for number, line in enumerate(src, 1):
            if number in changed:
                line = json.dumps(changed.pop(number), ensure_ascii=False) + "\n"
            f.write(line)
    if changed:
        raise ValueError(f"{raw_path}: samples from lines {sorted(changed)[:5]} are not in the file")


def removal_count(gold: Sequence[set[Triple] | None], changes: Sequence[Change | None]) -> tuple[int, int]:
    """(labelled triples the changes remove, labelled triples in all): what `clean.max_removed_share` bounds."""
    removed = sum(len(c.removed) for c in changes if c is not None)
    return removed, sum(len(g) for g in gold if g is not None)


def report(samples: Sequence[Sample], changes: Sequence[Change | None], *, n_models: int,
           add_min_votes: int, remove_max_votes: int, enabled: bool = True, kept_raw_because: str | None = None) -> dict:
    """Counts added/removed overall and per predicate, with up to five example sentences each.
    ``kept_raw_because``: why the votes were set aside and the raw labels kept (a warning)."""
    per_predicate: dict[str, dict] = defaultdict(lambda: {"added": 0, "removed": 0,
                                                          "examples": {"added": [], "removed": []}})
    totals = Counter()
    examples: dict[str, list] = {"added": [], "removed": []}
    for sample, change in zip(samples, changes, strict=True):
        if change is None:
            totals["unlabelled"] += 1
            continue
        totals["labelled"] += 1
        totals["triples_before"] += len(sample.triples)
        totals["triples_after"] += len(sample.triples) + len(change.added) - len(change.removed)
        totals["sentences_changed"] += bool(change.added or change.removed)
        for kind in ("added", "removed"):
            for t in getattr(change, kind):
                totals[kind] += 1
                entry = per_predicate[t.predicate]
                entry[kind] += 1
                example = {"source": sample.source, "text": sample.raw.get("text", sample.text),
                           "triple": [t.subject, t.predicate, t.object], "votes": change.votes.get(t, 0)}
                for bucket in (entry["examples"][kind], examples[kind]):
                    if len(bucket) < MAX_EXAMPLES:
                        bucket.append(example)
    warnings = [f"kept the raw labels: {kept_raw_because}"] if kept_raw_because else []
    return {
        "enabled": enabled, "models": n_models, "warnings": warnings, "kept_raw_labels": bool(kept_raw_because), "add_min_votes": effective_add_votes(add_min_votes, n_models),
        "remove_max_votes": remove_max_votes, "sentences": len(samples),
        **{k: totals[k] for k in ("labelled", "unlabelled", "sentences_changed", "triples_before",
                                  "triples_after", "added", "removed")},
        "per_predicate": {p: per_predicate[p] for p in sorted(per_predicate)},
        "examples": examples,
    }


def summary_markdown(rep: dict) -> str:
    """A human-readable page of the cleaning report."""
    lines = ["# Label cleaning", ""]
    if not rep["enabled"]:
        return "\n".join(lines + ["Cleaning is disabled (`clean.enabled: false`): the labels are unchanged.", ""])
    lines += [f"{rep['models']} raw-label fold models voted on {rep['labelled']} labelled sentences "
              f"({rep['unlabelled']} unlabelled left as they are).",
              f"Added: unlabelled triples predicted by >= {rep['add_min_votes']} models. "
              f"Removed: labelled triples predicted by <= {rep['remove_max_votes']} models.", "",
              "| | count |", "|---|---|",
              f"| triples before | {rep['triples_before']} |", f"| added | {rep['added']} |",
              f"| removed | {rep['removed']} |", f"| triples after | {rep['triples_after']} |",
              f"| sentences changed | {rep['sentences_changed']} |", ""]
    lines += [f"**Warning**: {w}" for w in rep["warnings"]] + ([""] if rep["warnings"] else [])
    if rep["per_predicate"]:
        lines += ["| predicate | added | removed |", "|---|---|---|"]
        lines += [f"| {p} | {e['added']} | {e['removed']} |" for p, e in rep["per_predicate"].items()]
        lines.append("")
    for kind in ("added", "removed"):
        if rep["examples"][kind]:
            lines += [f"## Examples: {kind}", ""]
            lines += [f"- `{e['source']}` ({e['votes']} votes) ({' | '.join(e['triple'])}): {e['text']}"
                      for e in rep["examples"][kind]]
            lines.append("")
    return "\n".join(lines)
