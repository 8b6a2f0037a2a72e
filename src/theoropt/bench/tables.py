"""Markdown tables of final metrics, mean ± std over seeds (tabulate, GitHub format)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tabulate import tabulate

from theoropt.bench.experiment import StoredRun, group_by


def mean_std(values: Sequence[float], fmt: str = ".4g") -> str:
    """``mean ± std`` (sample std, ddof=1) of the finite values; notes how many were not finite."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return "n/a" if array.size == 0 else "non-finite"
    text = format(finite.mean(), fmt)
    if finite.size > 1:
        text += " ± " + format(finite.std(ddof=1), fmt)
    if finite.size < array.size:
        text += f" ({array.size - finite.size} non-finite)"
    return text


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def metric_table(
    runs: Sequence[StoredRun],
    metrics: Sequence[str],
    *,
    row_key: str = "method",
    row_label: Callable[[Any], str] = str,
    fmt: str = ".4g",
) -> str:
    """One row per value of ``row_key`` with ``mean ± std`` of each metric over its runs."""
    rows = []
    for value, group in group_by(runs, row_key).items():
        cells = [row_label(value), str(len(group))]
        for metric in metrics:
            values = [run.result.metrics.get(metric, math.nan) for run in group]
            cells.append(mean_std(values, fmt))
        rows.append(cells)
    return markdown_table([row_key, "runs", *metrics], rows)
