"""Figures of an experiment: plain panel data first (:class:`Panel`), drawn second (:func:`render`).

An experiment turns its results into panels (curves with mean ± std bands over seeds,
bar charts with error bars, lines over a parameter); :func:`render` draws them side by
side with matplotlib (Agg) into one PNG, written atomically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .._optional import require
from ..viz.feature_maps import _save
from .stats import mean_std

KINDS = ("line", "bar")


@dataclass
class Series:
    """One labelled line (or one set of bars): ``y[i] ± err[i]`` at ``x[i]``."""

    label: str
    x: list
    y: list
    err: list | None = None


@dataclass
class Panel:
    """One subplot. ``kind="line"``: each series a line, ``err`` a shaded band; ``kind="bar"``:
    ``x`` holds category labels, each series a group of bars with error bars."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    kind: str = "line"
    logx: bool = False
    reference: list[tuple[str, float]] = field(default_factory=list)  # horizontal marks (label, y)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Panel: kind must be one of {KINDS}, got {self.kind!r}")


def band(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Pointwise mean and sample std (0 for one curve) of equally long curves."""
    if not curves or len({len(c) for c in curves}) != 1:
        raise ValueError(f"band: needs curves of one length, got lengths {[len(c) for c in curves]}")
    stats = [mean_std(col) for col in zip(*curves)]
    return [m for m, _ in stats], [s if s is not None else 0.0 for _, s in stats]


def curve_panel(variants: Sequence[dict], key: str = "test_accuracy", x: str = "epoch", title: str = "",
                ylabel: str = "test accuracy (%)", scale: float = 100.0, xlabel: str | None = None,
                logx: bool = False) -> Panel:
    """Mean ± std over seeds of ``run["curve"][key]`` against ``curve[x]``, one series per variant."""
    series = []
    for v in variants:
        runs = [r for r in v["runs"] if r.get("curve") and r["curve"].get(key)]
        if not runs:
            continue
        mean, std = band([[scale * y for y in r["curve"][key]] for r in runs])
        series.append(Series(v["name"], list(runs[0]["curve"][x]), mean, std))
    return Panel(title or f"{key.replace('_', ' ')} over training (mean ± std over seeds)",
                 xlabel or x.replace("_", " "), ylabel, series, logx=logx)


def bar_panel(variants: Sequence[dict], title: str = "test accuracy (mean ± std over seeds)",
              ylabel: str = "test accuracy (%)", scale: float = 100.0,
              reference: Sequence[tuple[str, float]] = ()) -> Panel:
    """One bar per variant: ``mean_accuracy ± std_accuracy``."""
    names = [v["name"] for v in variants]
    means = [scale * v["mean_accuracy"] for v in variants]
    errs = [scale * (v["std_accuracy"] or 0.0) for v in variants]
    return Panel(title, "", ylabel, [Series("mean", names, means, errs)], kind="bar", reference=list(reference))


def _draw(ax, panel: Panel) -> None:
    if panel.kind == "bar":
        categories = list(panel.series[0].x) if panel.series else []
        width = 0.8 / max(len(panel.series), 1)
        for k, s in enumerate(panel.series):
            pos = [i + (k - (len(panel.series) - 1) / 2) * width for i in range(len(categories))]
            ax.bar(pos, s.y, width, yerr=s.err, capsize=3, label=s.label if len(panel.series) > 1 else None)
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories, rotation=20, ha="right", fontsize=8)
        spans = [(y - (e or 0), y + (e or 0)) for s in panel.series for y, e in zip(s.y, s.err or [0] * len(s.y))
                 if y is not None and math.isfinite(y)] + [(y, y) for _, y in panel.reference]
        if spans and min(lo for lo, _ in spans) > 0:  # zoom in on the tops of the bars (and the marks)
            low, top = min(lo for lo, _ in spans), max(hi for _, hi in spans)
            ax.set_ylim(max(0.0, low - 0.5 * (top - low) - 1e-9), top + 0.15 * (top - low) + 1e-9)
    else:
        for s in panel.series:
            line, = ax.plot(s.x, s.y, marker="o" if len(s.x) <= 12 else None, markersize=3, label=s.label)
            if s.err:
                lo = [y - e for y, e in zip(s.y, s.err)]
                hi = [y + e for y, e in zip(s.y, s.err)]
                ax.fill_between(s.x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        if panel.logx:
            ax.set_xscale("log", base=2)
    for label, y in panel.reference:
        ax.axhline(y, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                    va="bottom")
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if len(panel.series) > 1 or panel.kind == "line":
        ax.legend(fontsize=7)


def render(panels: Sequence[Panel], path: str | Path, title: str = "", dpi: int = 90) -> Path:
    """Draw ``panels`` in rows of at most three (two by two for four) into the PNG ``path``
    (written atomically)."""
    if not panels:
        raise ValueError("render: no panels to draw")
    require("matplotlib", extra="plot", purpose="drawing lab figures")
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    cols = 2 if len(panels) == 4 else min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows + (0.4 if title else 0)), dpi=dpi)
    for i, panel in enumerate(panels):
        _draw(fig.add_subplot(rows, cols, i + 1), panel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
