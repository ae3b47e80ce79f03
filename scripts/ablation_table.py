#!/usr/bin/env python
"""Turn `dvc exp show --json` into a markdown ablation table (default: reports/ablations.md).

    python scripts/ablation_table.py                          # runs `dvc exp show --json` itself
    python scripts/ablation_table.py --input exps.json --prefix abl- --baseline abl-full
    python scripts/ablation_table.py --metric reports/ensemble/metrics.json:oof.clean/union.f1

One row per experiment: its name, the parameters that differ from the baseline's,
its state, the metric (with precision and recall when the metric is an `f1` or `<x>_f1` beside
them) and the difference to the baseline. The default metric (`auto`) is the dev F1,
in `reports/ensemble/metrics.json`, of the system the experiment submits:
`dev.single`, `dev.average/<first family>` or `dev.union` after its `ensemble.mode`.
The baseline is the experiment named `abl-full` (the full system of
scripts/ablation_grid.sh) when there is one, else the workspace. Failed, queued
and running experiments get no number: DVC shows stale metrics for them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field

from dgcnn_ie.config import flatten_params
from dgcnn_ie.files import atomic_write

METRICS_FILE = "reports/ensemble/metrics.json"
AUTO = "auto"
DEFAULT_BASELINE = "abl-full"
NO_RESULT = ("failed", "queued", "running")


@dataclass
class Row:
    """One line of `dvc exp show`: a workspace, a commit or an experiment."""

    name: str
    rev: str
    state: str                                            # "-" for the workspace and commits
    params: dict = field(default_factory=dict)            # flat: "model.use_gates" -> value
    metrics: dict = field(default_factory=dict)           # metrics file -> its data
    is_experiment: bool = False


def _row(entry: dict, name: str, state: str, is_experiment: bool) -> Row:
    data = entry.get("data") or {}
    params = {}
    for path, content in sorted((data.get("params") or {}).items()):
        params.update(flatten_params(content.get("data") or {}, "" if path == "params.yaml" else f"{path}:"))
    metrics = {path: content["data"] for path, content in (data.get("metrics") or {}).items()
               if isinstance(content, dict) and "data" in content}
    return Row(name, entry.get("rev", ""), state, params, metrics, is_experiment)


def load_rows(doc: list) -> list[Row]:
    """The rows of a `dvc exp show --json` document, in its order."""
    if not isinstance(doc, list):
        raise ValueError("not a `dvc exp show --json` document (expected a JSON list)")
    rows = []
    for entry in doc:
        rows.append(_row(entry, entry.get("name") or entry["rev"], "-", False))
        for exp in entry.get("experiments") or []:
            revs = exp.get("revs") or []
            if not revs:
                continue
            rev = revs[0]
            executor = exp.get("executor") or {}
            state = executor.get("state") or ("failed" if rev.get("error") else "success")
            rows.append(_row(rev, exp.get("name") or rev.get("name") or rev["rev"][:7], state, True))
    return rows


def metric_key(row: Row, spec: str) -> tuple[str, str]:
    """(metrics file, dotted key) of ``spec`` ("auto" or "file:key") for this row."""
    if spec != AUTO:
        path, sep, key = spec.rpartition(":")
        if not sep or not path or not key:
            raise ValueError(f"--metric must be 'auto' or FILE:KEY (e.g. {METRICS_FILE}:dev.union.f1), got {spec!r}")
        return path, key
    mode = row.params.get("ensemble.mode", "union")
    families = row.params.get("cv.families") or ["plain"]
    system = {"single": "single", "average": f"average/{families[0]}"}.get(mode, "union")
    return METRICS_FILE, f"dev.{system}.f1"


def lookup(row: Row, path: str, key: str):
    """The number at ``key`` in ``path``'s metrics of ``row``; None if absent or the row has no result."""
    if row.state in NO_RESULT:
        return None
    node = row.metrics.get(path)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def changed_params(row: Row, baseline: Row) -> list[str]:
    """``key=value`` for every parameter whose value differs from the baseline's (absent: ``<none>``)."""
    keys = sorted(set(row.params) | set(baseline.params))
    return [f"{k}={_value(row.params[k]) if k in row.params else '<none>'}" for k in keys
            if row.params.get(k, ...) != baseline.params.get(k, ...)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _num(v, signed: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def choose_baseline(rows: list[Row], name: str | None) -> Row:
    """The named row (its latest successful run), else ``abl-full``, else the workspace."""
    usable = [r for r in rows if r.state not in NO_RESULT]
    for wanted in ([name] if name else [DEFAULT_BASELINE, "workspace"]):
        for r in usable:
            if r.name == wanted:
                return r
    known = ", ".join(sorted({r.name for r in usable}))
    raise ValueError(f"no finished row named {name or DEFAULT_BASELINE + ' or workspace'} (rows: {known})")


def table(rows: list[Row], metric: str = AUTO, baseline_name: str | None = None, prefix: str = "") -> str:
    """The markdown page: baseline first, then the experiments, largest F1 loss first."""
    baseline = choose_baseline(rows, baseline_name)
    base_value = lookup(baseline, *metric_key(baseline, metric))
    chosen = [r for r in rows if r is not baseline and r.is_experiment and r.name.startswith(prefix)]

    def delta(r: Row):
        v = lookup(r, *metric_key(r, metric))
        return None if v is None or base_value is None else v - base_value

    chosen.sort(key=lambda r: (delta(r) is None, delta(r) or 0.0, r.name))
    what = ("the dev F1 of the system each experiment submits (`ensemble.mode`), from "
            f"`{METRICS_FILE}`" if metric == AUTO else f"`{metric}`")
    lines = ["# Ablations", "",
             f"Metric: {what}. Baseline: `{baseline.name}` ({_num(base_value)}); Δ = experiment − baseline. "
             "Changed parameters are those that differ from the baseline's. Experiments that failed, are "
             "queued or are running have no number.", "",
             f"| experiment | changed parameters | state | P | R | {'F1' if metric == AUTO else 'metric'} | Δ |",
             "|---|---|---|---|---|---|---|"]
    for r in [baseline] + chosen:
        path, key = metric_key(r, metric)
        value = lookup(r, path, key)
        p = rec = None
        if key == "f1" or key.endswith((".f1", "_f1")):   # beside its precision and recall
            p, rec = (lookup(r, path, key[:-2] + name) for name in ("precision", "recall"))
        changes = "(baseline)" if r is baseline else ", ".join(changed_params(r, baseline)) or "(none)"
        lines.append(f"| {_cell(r.name)} | {_cell(changes)} | {r.state} | {_num(p)} | {_num(rec)} | "
                     f"{_num(value)} | {'' if r is baseline else _num(delta(r), signed=True)} |")
    return "\n".join(lines) + "\n"


def exp_show_json() -> list:
    """`dvc exp show --json` of the repository in the working directory."""
    out = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="a saved `dvc exp show --json` (default: run it)")
    parser.add_argument("--output", default="reports/ablations.md", help="markdown file (default %(default)s)")
    parser.add_argument("--metric", default=AUTO, help="'auto' (default) or FILE:KEY, e.g. "
                        f"{METRICS_FILE}:oof.clean/union.f1")
    parser.add_argument("--baseline", help=f"the row to compare with (default: {DEFAULT_BASELINE}, else workspace)")
    parser.add_argument("--prefix", default="", help="only experiments whose name starts with this")
    args = parser.parse_args(argv)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            doc = json.load(f)
    else:
        doc = exp_show_json()
    try:
        text = table(load_rows(doc), args.metric, args.baseline, args.prefix)
    except ValueError as e:
        parser.error(str(e))
    with atomic_write(args.output) as f:
        f.write(text)
    print(text, end="")
    return text


if __name__ == "__main__":
    main()
