"""Shared output of the benchmark scripts: a printed table, optional JSON and Markdown files."""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate


def parse_arguments(description: str) -> argparse.Namespace:
    """``--out DIR`` (write NAME.json and NAME.md there) and ``--quick`` (smaller sizes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON and Markdown")
    parser.add_argument("--quick", action="store_true", help="smaller problems, faster")
    arguments, _ = parser.parse_known_args()
    return arguments


def emit(
    name: str,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: Sequence[str],
    out: Path | None,
) -> None:
    """Print the table and notes; with ``out``, also write ``out/name.json`` and ``out/name.md``."""
    table = tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)
    print(title)
    print(table)
    for note in notes:
        print(note)
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "title": title,
        "machine": f"{platform.machine()} {platform.processor()} {platform.system()}",
        "python": platform.python_version(),
        "headers": list(headers),
        "rows": [list(row) for row in rows],
        "notes": list(notes),
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=2))
    (out / f"{name}.md").write_text(f"## {title}\n\n{table}\n\n" + "\n".join(notes) + "\n")
