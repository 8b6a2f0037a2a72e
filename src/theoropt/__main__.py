"""``python -m theoropt``: the same as the ``theoropt`` command."""

import sys

from theoropt.cli import main

sys.exit(main())
