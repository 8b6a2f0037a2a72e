"""``python -m tests.bench.toy_cli ARGS``: the theoropt CLI with only the toy experiment.

Each run sleeps TOY_DELAY seconds and appends its key to TOY_LOG once it has finished
executing; with TOY_STARTED, it first appends "KEY PID" there; the runs of method TOY_HANG
sleep ten minutes instead. It prints "toy_cli: ready" to stderr once its imports are done.
"""

import os
import sys
from pathlib import Path

from tests.bench.toy_experiment import ToyExperiment
from theoropt.cli import main

if __name__ == "__main__":
    started = os.environ.get("TOY_STARTED")
    toy = ToyExperiment(
        float(os.environ["TOY_DELAY"]),
        Path(os.environ["TOY_LOG"]),
        Path(started) if started else None,
        os.environ.get("TOY_HANG", ""),
    )
    print("toy_cli: ready", file=sys.stderr, flush=True)
    sys.exit(main(sys.argv[1:], experiments={"toy": toy}))
