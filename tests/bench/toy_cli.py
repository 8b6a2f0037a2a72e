"""``python -m tests.bench.toy_cli ARGS``: the theoropt CLI with only the toy experiment.

Each run sleeps DELAY seconds and appends its key to LOG once it has finished executing.
"""

import os
import sys
from pathlib import Path

from tests.bench.toy_experiment import ToyExperiment
from theoropt.cli import main

if __name__ == "__main__":
    toy = ToyExperiment(float(os.environ["TOY_DELAY"]), Path(os.environ["TOY_LOG"]))
    sys.exit(main(sys.argv[1:], experiments={"toy": toy}))
