"""The harness tests interrupt their child processes with SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal


def pytest_configure() -> None:
    """Children inherit an ignored SIGINT, and Python then leaves it ignored: a test run started
    that way (a background job of a non-interactive shell, ``nohup``) would see every interrupt
    test fail with a child that simply runs on. Such a run gets Python's default handler back,
    which its children reset to the default action and so to ``KeyboardInterrupt``."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
