"""Offline PNG figures for the report stage (matplotlib, Agg canvas; no pyplot state, no browser).

Each function draws one figure and writes one PNG atomically (``files.atomic_write``:
a temp file in the same folder, then a rename), and returns a :class:`Rendered`
record whose ``markdown()`` gives the caption. Predicate names are drawn with
the first installed font that covers all their characters (the default font,
then known CJK families such as Noto Sans CJK, WenQuanYi, SimHei); when none
does, bars are labelled with predicate indices and the caption carries the
index -> predicate legend, so Chinese names never turn into empty boxes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from .files import atomic_write
from .utils import log

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans SC", "Noto Serif CJK SC",
                "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "STHeiti", "Droid Sans Fallback",
                "AR PL UMing CN", "AR PL UKai CN", "Arial Unicode MS")
DPI = 100


@dataclass
class Rendered:
    """A written figure: its path, a one-line description, and the legend used instead of names (if any)."""

    path: Path
    description: str
    legend: list[tuple[int, str]] = field(default_factory=list)
    font: str | None = None

    def markdown(self, relative_to: Path | None = None) -> str:
        """An image link with the description, plus the index legend table when indices were drawn."""
        target = self.path.relative_to(relative_to) if relative_to else self.path
        lines = [f"![{self.path.stem}]({target.as_posix()})", "", self.description, ""]
        if self.legend:
            lines += ["No installed font covers the predicate names, so the figure shows indices:", "",
                      "| index | predicate |", "|---|---|"]
            lines += [f"| {i} | {name} |" for i, name in self.legend] + [""]
        return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _candidate_fonts() -> list[str]:
    """Font files to try: the default sans font, then installed CJK families in preference order."""
    paths = [font_manager.findfont(font_manager.FontProperties())]
    by_name: dict[str, list[str]] = {}
    for entry in font_manager.fontManager.ttflist:
        by_name.setdefault(entry.name, []).append(entry.fname)
    for name in CJK_FAMILIES:
        paths += sorted(by_name.get(name, []))
    paths += sorted(f for name, files in sorted(by_name.items()) if "CJK" in name for f in files)
    return list(dict.fromkeys(paths))


def find_font(labels: Sequence[str]) -> str | None:
    """Path of the first candidate font with a glyph for every (non-space) character of ``labels``; None if none."""
    needed = {ord(ch) for label in labels for ch in label if not ch.isspace()}
    for path in _candidate_fonts():
        if needed <= _charmap(path):
            return path
    return None


class _Labels:
    """How predicate labels are drawn: real names with a covering font, else indices plus a legend."""

    def __init__(self, names: Sequence[str], what: str):
        self.names = list(names)
        self.font = find_font(self.names) if self.names else None
        self.prop = font_manager.FontProperties(fname=self.font) if self.font else None
        if self.names and self.font is None:
            log(f"plots: no installed font covers the predicate names of {what}; drawing indices "
                f"(legend in the caption). Install e.g. fonts-noto-cjk or fonts-wqy-microhei for names.")
        elif self.names:
            log(f"plots: {what}: predicate names drawn with {self.font}")

    def text(self, i: int, suffix: str = "") -> str:
        return (self.names[i] if self.font else str(i)) + suffix

    @property
    def legend(self) -> list[tuple[int, str]]:
        return [] if self.font else list(enumerate(self.names))


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=DPI, metadata={"Software": None})
    return path


def training_curves(histories: Mapping[str, Sequence[dict]], path, title: str) -> Rendered:
    """Loss and dev F1 per epoch, one line per history (e.g. per fold); epochs where the best
    weights were reloaded (plateau) are marked with an x."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_f1 = fig.subplots(1, 2)
    for label, rows in histories.items():
        if not rows:
            continue
        epochs = [r["epoch"] for r in rows]
        line, = ax_loss.plot(epochs, [r["loss"] for r in rows], marker=".", label=label)
        ax_f1.plot(epochs, [r["dev_f1"] for r in rows], marker=".", color=line.get_color(), label=label)
        reloads = [r for r in rows if r.get("reloaded")]
        ax_f1.plot([r["epoch"] for r in reloads], [r["dev_f1"] for r in reloads], "x", color="black",
                   markersize=9, label="_nolegend_")
    ax_loss.set(title="training loss", xlabel="epoch", ylabel="masked BCE")
    ax_f1.set(title="dev F1 (x: best weights reloaded, lr lowered)", xlabel="epoch", ylabel="F1", ylim=(0, 1))
    for ax in (ax_loss, ax_f1):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(histories) > 1:
        ax_f1.legend(fontsize="small", ncols=2)
    fig.suptitle(title)
    runs = sum(bool(rows) for rows in histories.values())
    return Rendered(_save(fig, path), f"{title}: loss and dev F1 per epoch ({runs} run(s)).")


def threshold_curves(sweep: Sequence[dict], path, best: dict | None = None, current: dict | None = None,
                     title: str = "decode thresholds") -> Rendered:
    """Precision, recall and F1 against the start threshold, one line per end threshold; the best
    point (star) and the current decode parameters (circle) marked."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    ends = sorted({r["end_threshold"] for r in sweep})
    for end in ends:
        rows = sorted((r for r in sweep if r["end_threshold"] == end), key=lambda r: r["start_threshold"])
        for ax, key in zip(axes, ("precision", "recall", "f1")):
            ax.plot([r["start_threshold"] for r in rows], [r[key] for r in rows], marker=".", label=f"end {end:g}")
    for ax, key in zip(axes, ("precision", "recall", "f1")):
        for point, style, name in ((best, "*", "best F1"), (current, "o", "current")):
            if point is not None:
                ax.plot([point["start_threshold"]], [point[key]], style, color="black", markersize=11,
                        fillstyle="none" if style == "o" else "full", label=name)
        ax.set(title=key, xlabel="start threshold", ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score")
    axes[2].legend(fontsize="small")
    fig.suptitle(title)
    text = f"{title}: precision, recall and F1 over {len(sweep)} (start, end) threshold pairs"
    if best is not None:
        text += (f"; best F1 {best['f1']:.4f} at start {best['start_threshold']:g}, "
                 f"end {best['end_threshold']:g}")
    return Rendered(_save(fig, path), text + ".")


def per_predicate_f1(per_predicate: Mapping[str, dict], path, title: str = "per-predicate F1") -> Rendered:
    """Horizontal F1 bars, best first, each labelled with its gold support (n=...)."""
    items = sorted(per_predicate.items(), key=lambda kv: (-kv[1]["f1"], -kv[1]["support"], kv[0]))
    labels = _Labels([name for name, _ in items], title)
    fig = Figure(figsize=(8, 1.2 + 0.28 * max(len(items), 1)), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(items)))
    bars = ax.barh(y, [m["f1"] for _, m in items], color="tab:blue")
    ax.bar_label(bars, fmt="%.3f", padding=2, fontsize="x-small")
    ax.set_yticks(y, [labels.text(i, f" (n={m['support']})") for i, (_, m) in enumerate(items)],
                  fontproperties=labels.prop, fontsize="small")
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.08), xlabel="F1", title=title)
    ax.grid(axis="x", alpha=0.3)
    if not items:
        ax.text(0.5, 0.5, "no predicate to show", ha="center", va="center", transform=ax.transAxes)
    return Rendered(_save(fig, path), f"{title}: {len(items)} predicates, sorted by F1; n = gold support.",
                    labels.legend, labels.font)


def cleaning_stats(per_predicate: Mapping[str, dict], path, title: str = "label cleaning") -> Rendered:
    """Triples added (right) and removed (left) per predicate by the cleaning votes, most changed first."""
    items = sorted(per_predicate.items(), key=lambda kv: (-(kv[1]["added"] + kv[1]["removed"]), kv[0]))
    labels = _Labels([name for name, _ in items], title)
    fig = Figure(figsize=(8, 1.2 + 0.28 * max(len(items), 1)), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(items)))
    ax.barh(y, [m["added"] for _, m in items], color="tab:green", label="added")
    ax.barh(y, [-m["removed"] for _, m in items], color="tab:red", label="removed")
    ax.set_yticks(y, [labels.text(i) for i in range(len(items))], fontproperties=labels.prop, fontsize="small")
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel="triples (removed < 0 < added)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    if items:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no label changed", ha="center", va="center", transform=ax.transAxes)
    added = sum(m["added"] for _, m in items)
    removed = sum(m["removed"] for _, m in items)
    return Rendered(_save(fig, path), f"{title}: {added} triples added and {removed} removed over "
                    f"{len(items)} predicates.", labels.legend, labels.font)


def fold_scores(scores: Mapping[str, Sequence[tuple[int, float]]], path,
                title: str = "held-out F1 per fold") -> Rendered:
    """Grouped bars: for each run family (e.g. ``cv_raw``, ``cv/prior``), the held-out F1 of every fold."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    groups = [(name, sorted(rows)) for name, rows in scores.items() if rows]
    folds = sorted({fold for _, rows in groups for fold, _ in rows})
    width = 0.8 / max(len(groups), 1)
    for k, (name, rows) in enumerate(groups):
        ax.bar([folds.index(f) + k * width for f, _ in rows], [v for _, v in rows], width, label=name)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(folds))], [f"fold {f}" for f in folds])
    ax.set(ylim=(0, 1), ylabel="F1", title=title)
    ax.grid(axis="y", alpha=0.3)
    if groups:
        ax.legend(fontsize="small")
    return Rendered(_save(fig, path), f"{title}: {', '.join(name for name, _ in groups) or 'no run'}.")
