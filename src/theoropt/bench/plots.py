"""Curves with a band over seeds, saved atomically as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from theoropt.bench.atomic import atomic_path
from theoropt.bench.experiment import StoredRun


def seed_band(
    runs: Sequence[StoredRun], x: str, y: str, *, log_y: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Common x grid, centre line, lower and upper band of curve ``y`` against ``x`` over seeds.

    Curves are linearly interpolated onto the union of their x values inside the range all
    seeds cover. The centre is the mean (the geometric mean when ``log_y``, so that it is the
    mean of what the log-scaled plot shows); the band spans the minimum to the maximum.
    """
    pairs = [
        (np.asarray(run.result.curves[x], float), np.asarray(run.result.curves[y], float))
        for run in runs
        if x in run.result.curves and y in run.result.curves and len(run.result.curves[x])
    ]
    if not pairs:
        empty = np.empty(0)
        return empty, empty, empty, empty
    lo = max(xs.min() for xs, _ in pairs)
    hi = min(xs.max() for xs, _ in pairs)
    grid = np.unique(np.concatenate([xs for xs, _ in pairs]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    stack = np.stack([np.interp(grid, xs, ys) for xs, ys in pairs])
    if log_y:
        positive = np.where(stack > 0, stack, np.nan)
        with np.errstate(invalid="ignore"):
            centre = np.exp(np.nanmean(np.log(positive), axis=0))
    else:
        centre = stack.mean(axis=0)
    return grid, centre, stack.min(axis=0), stack.max(axis=0)


def plot_band(
    ax: Axes,
    runs_by_label: Mapping[str, Sequence[StoredRun]],
    x: str,
    y: str,
    *,
    log_x: bool = False,
    log_y: bool = False,
) -> None:
    """One line per label with its band over seeds; sets log scales and a legend."""
    for label, runs in runs_by_label.items():
        grid, centre, lower, upper = seed_band(runs, x, y, log_y=log_y)
        if grid.size == 0:
            continue
        (line,) = ax.plot(grid, centre, label=f"{label} (n={len(runs)})", linewidth=1.5)
        if len(runs) > 1:
            ax.fill_between(grid, lower, upper, color=line.get_color(), alpha=0.2, linewidth=0)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def subplots(
    n_panels: int, *, width: float = 5.0, height: float = 3.8
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` panels in one row (at most 3 per row)."""
    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically and close it."""
    fig.tight_layout()
    try:
        with atomic_path(path) as temporary:
            fig.savefig(temporary, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path
