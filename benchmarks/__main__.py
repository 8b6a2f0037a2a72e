"""``python -m benchmarks``: run every benchmark module in this folder, one process each."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    folder = Path(__file__).parent
    names = [
        info.name for info in pkgutil.iter_modules([str(folder)]) if not info.name.startswith("_")
    ]
    failed = []
    for name in sorted(names):
        print(f"== benchmarks.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *sys.argv[1:]]).returncode:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
