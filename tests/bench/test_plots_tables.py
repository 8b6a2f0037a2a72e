import math
import os
import stat

import numpy as np

from theoropt.bench.atomic import write_text_atomic
from theoropt.bench.experiment import RunResult, RunSpec, StoredRun
from theoropt.bench.plots import plot_band, save_figure, seed_band, subplots
from theoropt.bench.tables import mean_std, metric_table


def stored(method: str, seed: int, xs, ys, **metrics: float) -> StoredRun:
    spec = RunSpec("e", "quick", method, {}, seed)
    return StoredRun(spec, RunResult(metrics, {"x": list(xs), "y": list(ys)}), 1.0, {}, "")


def test_mean_std_uses_sample_std_and_flags_non_finite():
    assert mean_std([1.0, 2.0, 3.0], ".3g") == "2 ± 1"
    assert mean_std([5.0]) == "5"
    assert mean_std([1.0, math.nan, 3.0], ".3g") == "2 ± 1.41 (1 non-finite)"
    assert mean_std([math.inf]) == "non-finite" and mean_std([]) == "n/a"


def test_seed_band_interpolates_on_the_common_range():
    runs = [stored("m", 0, [0, 2, 4], [0, 2, 4]), stored("m", 1, [1, 3, 5], [3, 5, 7])]
    grid, centre, lower, upper = seed_band(runs, "x", "y")
    np.testing.assert_allclose(grid, [1, 2, 3, 4])
    np.testing.assert_allclose(lower, [1, 2, 3, 4])  # y = x on the first run
    np.testing.assert_allclose(upper, [3, 4, 5, 6])  # y = x + 2 on the second
    np.testing.assert_allclose(centre, [2, 3, 4, 5])


def test_seed_band_log_centre_is_geometric_mean():
    runs = [stored("m", 0, [0, 1], [1e-2, 1e-4]), stored("m", 1, [0, 1], [1e-4, 1e-6])]
    _, centre, _, _ = seed_band(runs, "x", "y", log_y=True)
    np.testing.assert_allclose(centre, [1e-3, 1e-5])


def test_metric_table_rows_per_method(tmp_path):
    runs = [stored("a", s, [0], [0], loss=v) for s, v in enumerate([1.0, 3.0])]
    runs.append(stored("b", 0, [0], [0], loss=0.5))
    table = metric_table(runs, ["loss"], fmt=".3g").splitlines()
    assert [cell.strip() for cell in table[0].split("|")[1:4]] == ["method", "runs", "loss"]
    assert (
        "| a        | 2      | 2 ± 1.41 |" in table and "| b        | 1      | 0.5      |" in table
    )
    fig, (ax,) = subplots(1)
    plot_band(ax, {"a": runs[:2]}, "x", "y")
    assert save_figure(fig, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_reports_and_figures_get_the_default_file_mode(tmp_path):
    """Written through a temporary file, they used to keep tempfile's private mode 0o600: a
    report others (a group, a web server) could not read. Now 0o666 less the umask, as any
    file the program creates, and nothing else is left in the folder."""
    previous = os.umask(0o022)
    try:
        report = write_text_atomic(tmp_path / "report.md", "# report\n")
        fig, _ = subplots(1)
        figure = save_figure(fig, tmp_path / "figures" / "f.png")
    finally:
        os.umask(previous)
    for path in (report, figure):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["f.png", "figures", "report.md"]
