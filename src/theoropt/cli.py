"""The ``theoropt`` command: list, run and report experiments.

Only the standard library is imported before :func:`main` starts handling Ctrl-C: the
experiments, torch and Dask are imported inside it, so an interrupt during start-up ends with
a message instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from theoropt import __version__
from theoropt.errors import ExperimentError, TheoroptError

if TYPE_CHECKING:
    from theoropt.bench.executor import Executor
    from theoropt.bench.experiment import Experiment
    from theoropt.bench.runner import RunSummary
    from theoropt.bench.selection import RunFilter

ALL = "all"
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _condition(text: str) -> str:
    from theoropt.bench.selection import parse_condition

    try:
        parse_condition(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="theoropt",
        description="Run theoropt's experiments and write their report.",
    )
    parser.add_argument("--version", action="version", version=f"theoropt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="list the experiments")
    run = commands.add_parser("run", help="run an experiment (or 'all'), skipping saved runs")
    run.add_argument("name", metavar="NAME", help="experiment name from `theoropt list`, or 'all'")
    run.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="seeds per configuration (default: each experiment's own)",
    )
    size = run.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="the small variant used by the default suite",
    )
    size.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="the large variant (long)"
    )
    run.set_defaults(mode="default")
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder (results)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="runs at once on this machine, in worker processes (default 1: in this process)",
    )
    run.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="send the runs to the Dask scheduler at ADDRESS (e.g. tcp://host:8786), or "
        "'local' for a LocalCluster of --jobs workers (default: one per core)",
    )
    run.add_argument(
        "--only",
        type=_condition,
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE...]",
        help="run only the planned runs whose KEY (method, stage, seed, or a configuration "
        "entry such as problem) has one of the VALUEs; repeat for several keys",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="stop a run after SECONDS and record it as failed (runs in worker processes)",
    )
    report = commands.add_parser("report", help="write DIR/report.md from the saved runs")
    report.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="output folder of `theoropt run` (results); only read",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write report.md and figures/ here instead of into DIR (for a read-only DIR)",
    )
    return parser


def prepare_output_folder(out: Path) -> Path:
    """Create ``out`` if needed and check that it is writable, or raise a clear error."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ExperimentError(f"cannot write to output folder {out}: {reason}") from None
    return out


def _selected(name: str, experiments: Mapping[str, Experiment]) -> list[Experiment]:
    if name == ALL:
        return list(experiments.values())
    if name not in experiments:
        known = ", ".join(experiments) or "(none)"
        raise ExperimentError(f"unknown experiment {name!r}; known experiments: {known}, {ALL}")
    return [experiments[name]]


def _command_list(experiments: Mapping[str, Experiment]) -> int:
    width = max((len(name) for name in experiments), default=0)
    for name, experiment in experiments.items():
        print(f"{name:<{width}}  {experiment.summary}")
    return 0


def _in_process(args: argparse.Namespace) -> bool:
    return args.dask is None and args.jobs in (None, 1) and args.timeout is None


def _executor(args: argparse.Namespace) -> AbstractContextManager[Executor]:
    """In this process for one job without a timeout; otherwise on Dask workers."""
    if _in_process(args):
        from theoropt.bench.executor import InProcessExecutor

        return nullcontext(InProcessExecutor())
    if args.dask not in (None, "local") and args.jobs is not None:
        raise ExperimentError(
            "--jobs sets the workers of a local cluster; with --dask ADDRESS the cluster's "
            "workers decide (use --dask local --jobs N for this machine)"
        )
    from theoropt.bench.dask_executor import LOCAL, dask_executor

    if args.dask is None:  # --jobs N or --timeout: a local cluster of N workers (default 1)
        return dask_executor(LOCAL, args.jobs or 1, args.timeout)
    return dask_executor(args.dask, args.jobs, args.timeout)


def _print_summary(experiment: Experiment, mode: str, summary: RunSummary, only: RunFilter) -> None:
    line = (
        f"{experiment.name} [{mode}]: {len(summary.executed)} runs done now, "
        f"{summary.skipped} already saved, {len(summary.failed)} failed"
    )
    if only:
        line += f", {summary.left_out} left out by {only.describe()}"
    print(line)
    for spec, message in summary.failed:
        print(f"  FAILED {spec.label()}: {message}", file=sys.stderr)


def _command_run(
    args: argparse.Namespace, experiments: Mapping[str, Experiment], argv: Sequence[str]
) -> int:
    from theoropt.bench.ownership import own_output_folder
    from theoropt.bench.runner import run_experiment
    from theoropt.bench.selection import RunFilter
    from theoropt.bench.store import STORE_NAME, ResultsStore

    chosen = _selected(args.name, experiments)
    only = RunFilter.from_texts(args.only)
    out = prepare_output_folder(args.out)
    command = ["theoropt", *argv]
    failures = selected = left_out = saved_selected = 0
    with (
        own_output_folder(out, command),
        ResultsStore(out / STORE_NAME) as store,
        _executor(args) as executor,
    ):
        store.record_invocation(command)
        for experiment in chosen:
            seeds = args.seeds or experiment.default_seeds
            summary = run_experiment(
                experiment,
                args.mode,
                seeds,
                store,
                progress=not args.no_progress,
                executor=executor,
                only=only,
            )
            _print_summary(experiment, args.mode, summary, only)
            failures += len(summary.failed)
            selected += len(summary.executed) + len(summary.failed)
            left_out += summary.left_out
            saved_selected += summary.saved_selected
    if only and not selected and left_out:
        if not saved_selected:  # matches nothing planned at all: a typo, not "all done"
            raise ExperimentError(
                f"{only.describe()} matches none of the {left_out} runs planned so far nor a "
                f"saved run (a later stage is planned once the runs it needs are saved); "
                f"their values: {only.values_seen()}"
            )
        print(
            f"note: {only.describe()} selected none of the {left_out} runs left to do "
            f"({saved_selected} selected runs are already saved); "
            f"their values: {only.values_seen()}",
            file=sys.stderr,
        )
    print(f"results saved in {out / STORE_NAME}; write the report with `theoropt report {out}`")
    return 1 if failures else 0


def _command_report(args: argparse.Namespace, experiments: Mapping[str, Experiment]) -> int:
    from theoropt.bench.report import write_report

    target = args.dir if args.out is None else args.out
    try:
        prepare_output_folder(target)
    except ExperimentError as error:
        hint = " (use --out to write the report elsewhere)" if args.out is None else ""
        raise ExperimentError(f"{error}{hint}") from None
    path = write_report(args.dir, experiments, target)
    print(f"report written to {path}")
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _DeferredInterrupt:
    """An unraisable-exception hook that holds back a Ctrl-C Python could only ignore.

    A ``KeyboardInterrupt`` that lands in a callback (the import system's module-lock cleanup,
    while ``main`` imports the experiments) cannot propagate: CPython prints "Exception ignored
    in" with a traceback and runs on. This hook records it instead, and :meth:`raise_pending`
    raises it where ``main`` can report it. Other exceptions go to ``previous``.
    """

    def __init__(self, previous: Callable[[Any], object]) -> None:
        self.previous = previous
        self.pending = False

    def __call__(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.pending = True
        else:
            self.previous(unraisable)

    def raise_pending(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


def _interrupted_message(args: argparse.Namespace) -> str:
    if args.command == "run":
        return (
            f"interrupted; every finished run is saved in {args.out}. "
            "Run the same command again to continue where it stopped."
        )
    return "interrupted"


def main(
    argv: Sequence[str] | None = None, experiments: Mapping[str, Experiment] | None = None
) -> int:
    """Entry point; ``experiments`` overrides the registry (used by tests)."""
    args = None
    deferred_interrupt = _DeferredInterrupt(sys.unraisablehook)
    sys.unraisablehook = deferred_interrupt
    try:
        arguments = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(arguments)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        if args.command == "run" and not _in_process(args) and args.dask in (None, "local"):
            from theoropt.bench.dask_executor import start_worker_server

            start_worker_server()  # its imports overlap with the registry's below
        if experiments is None:
            from theoropt.bench.registry import all_experiments

            experiments = all_experiments()
        deferred_interrupt.raise_pending()  # a Ctrl-C that hit a callback while importing
        if args.command == "list":
            return _command_list(experiments)
        if args.command == "run":
            return _command_run(args, experiments, arguments)
        return _command_report(args, experiments)
    except TheoroptError as error:
        print(f"theoropt: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        message = "interrupted" if args is None else _interrupted_message(args)
        print(f"\ntheoropt: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sys.unraisablehook = deferred_interrupt.previous


if __name__ == "__main__":
    sys.exit(main())
