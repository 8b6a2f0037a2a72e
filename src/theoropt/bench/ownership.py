"""One ``theoropt run`` at a time per output folder.

The driver holds an exclusive ``flock`` on ``OUT/.theoropt-run.lock`` for as long as it runs and
writes who it is into the file; a second invocation on the same folder is refused with a message
naming that process. The operating system releases the lock when the process ends in any way
(``kill -9`` included), so a crash never leaves the folder locked. Advisory locks on network
file systems depend on their configuration (NFSv4 supports them).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from theoropt.errors import ExperimentError

LOCK_NAME = ".theoropt-run.lock"


def _describe(owner_text: str) -> str:
    try:
        owner = json.loads(owner_text)
        return (
            f"process {owner['pid']} on {owner['host']}, started {owner['started']}: "
            f"`{owner['command']}`"
        )
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"


@contextmanager
def own_output_folder(folder: Path, command: Sequence[str]) -> Iterator[None]:
    """Hold ``folder`` for this process, or raise :class:`ExperimentError` naming its owner."""
    try:
        handle = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ExperimentError(
            f"cannot write to output folder {folder}: {LOCK_NAME}: {error.strerror}"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 1 << 16, 0).decode(errors="replace")
            raise ExperimentError(
                f"output folder {folder} is in use by another theoropt run ({_describe(holder)}); "
                "wait for it to finish or stop it, or choose another --out"
            ) from None
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": " ".join(command),
        }
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(owner).encode(), 0)
        yield
    finally:
        os.close(handle)
