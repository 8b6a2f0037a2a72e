"""What a result depends on besides its configuration: library versions and the machine."""

from __future__ import annotations

import os
import platform
import sys
from functools import cache
from importlib import metadata


@cache
def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries the results depend on (``-`` if absent)."""
    versions = {"python": platform.python_version()}
    for package in ("theoropt", "torch", "numpy", "scipy", "pot", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return versions


def machine_description() -> dict[str, str]:
    """Operating system, processor, core count and memory of this machine."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        memory_text = f"{memory / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        memory_text = "unknown"
    processor = platform.processor() or platform.machine()
    return {
        "system": platform.platform(),
        "processor": processor,
        "cpu cores": str(os.cpu_count()),
        "memory": memory_text,
        "python executable": sys.executable,
    }
