"""The ``theoropt`` command: list, run and report experiments."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from theoropt import __version__
from theoropt.bench.experiment import Experiment
from theoropt.bench.registry import all_experiments
from theoropt.bench.report import STORE_NAME, write_report
from theoropt.bench.runner import run_experiment
from theoropt.bench.store import ResultsStore
from theoropt.errors import ExperimentError, TheoroptError

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
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    report = commands.add_parser("report", help="write DIR/report.md from the saved runs")
    report.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="output folder of `theoropt run` (results)",
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


def _command_run(
    args: argparse.Namespace, experiments: Mapping[str, Experiment], argv: Sequence[str]
) -> int:
    chosen = _selected(args.name, experiments)
    out = prepare_output_folder(args.out)
    failures = 0
    with ResultsStore(out / STORE_NAME) as store:
        store.record_invocation(["theoropt", *argv])
        for experiment in chosen:
            seeds = args.seeds or experiment.default_seeds
            summary = run_experiment(
                experiment, args.mode, seeds, store, progress=not args.no_progress
            )
            print(
                f"{experiment.name} [{args.mode}]: {len(summary.executed)} runs done now, "
                f"{summary.skipped} already saved, {len(summary.failed)} failed"
            )
            for spec, message in summary.failed:
                print(f"  FAILED {spec.label()}: {message}", file=sys.stderr)
            failures += len(summary.failed)
    print(f"results saved in {out / STORE_NAME}; write the report with `theoropt report {out}`")
    return 1 if failures else 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(
    argv: Sequence[str] | None = None, experiments: Mapping[str, Experiment] | None = None
) -> int:
    """Entry point; ``experiments`` overrides the registry (used by tests)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    registry = all_experiments() if experiments is None else experiments
    try:
        if args.command == "list":
            return _command_list(registry)
        if args.command == "run":
            return _command_run(args, registry, arguments)
        path = write_report(args.dir, registry)
        print(f"report written to {path}")
        return 0
    except TheoroptError as error:
        print(f"theoropt: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None) or getattr(args, "dir", None)
        print(
            f"\ntheoropt: interrupted; every finished run is saved in {out}. "
            "Run the same command again to continue where it stopped.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
