"""Runs on a Dask cluster: a ``LocalCluster`` of this machine (``--jobs N``, ``--dask local``) or
the scheduler of a cluster (``--dask ADDRESS``). Dask places, retries and load-balances the
runs; the driver only submits them, collects the outcomes and stops runs past ``--timeout``.

A worker that dies (killed, out of memory) is restarted by its nanny and Dask reruns the runs
it held, so they are not lost; a run that kills three workers is reported as failed. Local
workers die with the driver, even after ``kill -9``: each watches a pipe from its nanny, which
lives in the driver process.
"""

from __future__ import annotations

import logging
import os
import pkgutil
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from multiprocessing import forkserver, resource_tracker

import dask
from dask.typing import Key
from distributed import Client, Future, LocalCluster, Worker, WorkerPlugin, as_completed
from distributed.scheduler import KilledWorker
from distributed.utils import get_mp_context

from theoropt.bench import experiments as experiments_package
from theoropt.bench.execution import Outcome, available_cores, execute_run, running_for
from theoropt.bench.experiment import Experiment, RunSpec
from theoropt.errors import ExperimentError

LOCAL = "local"
POLL_SECONDS = 0.05
"""How often the driver looks for finished runs (Dask's own ``as_completed`` waits as long)."""
TIMEOUT_CHECK_SECONDS = 1.0
"""How often the driver asks the workers how long their runs have been running."""
CONNECT_SECONDS = 30
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""Dask settings of local clusters. Workers fork from a preloaded server (see
:func:`start_worker_server`). Runs last seconds to hours, so the monitoring meant for
millisecond tasks is slowed down or off: the statistical profiler (every 10 ms), the event-loop
tick (20 ms) and the system and memory monitors (500 ms, 100 ms) cost the workers and the
driver about a third more CPU than the runs themselves on the shared 2-core machine."""

logger = logging.getLogger(__name__)


def _failure_message(future: Future) -> tuple[str, str]:
    """Reason and traceback of a task that Dask reports as erred or cancelled."""
    if future.cancelled():
        return "cancelled by the Dask cluster", ""
    error = future.exception()
    if isinstance(error, KilledWorker):
        return (
            "every worker that ran it died (killed, out of memory or crashed); "
            f"Dask gave up: {error}",
            "",
        )
    details = "".join(traceback.format_exception(type(error), error, future.traceback()))
    return f"{type(error).__name__}: {error}", details


class DaskExecutor:
    """Submits each run as a Dask task and hands the outcomes back as they arrive.

    ``runs_at_once``: the cluster's worker threads where known (a local cluster).
    ``timeout``: seconds after which a run is stopped (its worker is restarted) and reported
    as failed.
    """

    def __init__(self, client: Client, runs_at_once: int | None, timeout: float | None) -> None:
        self._client = client
        self.runs_at_once = runs_at_once
        self._timeout = timeout
        self._pending: dict[Key, tuple[Future, RunSpec]] = {}
        self._completed = as_completed(loop=client.loop)
        self._last_check = time.monotonic()

    def submit(self, experiment: Experiment, spec: RunSpec) -> None:
        key = f"theoropt-{spec.experiment}-{spec.stage}-{uuid.uuid4().hex}"
        future = self._client.submit(execute_run, experiment, spec, key=key)
        self._pending[future.key] = (future, spec)
        self._completed.add(future)

    def in_flight(self) -> int:
        return len(self._pending)

    def next_outcomes(self) -> list[Outcome]:
        while True:
            outcomes = [
                self._collect(future)
                for future in self._completed.next_batch(block=False)
                if future.key in self._pending
            ]
            if self._timeout is not None:
                outcomes += self._stop_overdue(self._timeout)
            if outcomes:
                return outcomes
            time.sleep(POLL_SECONDS)

    def _collect(self, future: Future) -> Outcome:
        _, spec = self._pending.pop(future.key)
        if future.status == "finished":
            return future.result()
        reason, details = _failure_message(future)
        return Outcome(spec, None, 0.0, {}, reason, details)

    def _stop_overdue(self, timeout: float) -> list[Outcome]:
        """Cancel the runs past ``timeout`` and restart the workers that were running them."""
        if time.monotonic() - self._last_check < TIMEOUT_CHECK_SECONDS:
            return []
        self._last_check = time.monotonic()
        outcomes = []
        for address, running in self._client.run(running_for, on_error="ignore").items():
            overdue = [
                (key, seconds)
                for key, seconds in running.items()
                if seconds > timeout and key in self._pending
            ]
            for key, seconds in overdue:
                future, spec = self._pending.pop(key)
                future.cancel()
                reason = f"timed out: still running after {timeout:g} s (--timeout)"
                outcomes.append(Outcome(spec, None, seconds, {}, reason))
            if overdue:
                status = self._client.restart_workers([address], raise_for_error=False)
                if status.get(address) != "OK":
                    logger.warning("restarting worker %s: %s", address, status.get(address))
        return outcomes


class ExitWhenClosed(WorkerPlugin):
    """Ends a local worker process as soon as Dask closes the worker (cluster closed, worker
    restarted after ``--timeout``), without Python's finalisation: tearing down torch, scipy
    and the rest took 2-3 s per process on the shared 2-core machine, and the nanny waits 4 s
    before it kills a process that is still alive. Nothing is lost: every outcome has reached
    the driver by then, and the stores are only written by the driver."""

    name = "theoropt-exit-when-closed"

    def teardown(self, worker: Worker) -> None:
        os._exit(0)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Start Dask with Ctrl-C deferred to the end of the block, and kept from its processes.

    A terminal sends Ctrl-C to the whole process group. The threads and worker processes that
    Dask starts inside this block inherit a blocked SIGINT, so the driver alone handles it and
    stops the cluster; an interrupt during the start itself is raised once the block ends
    (a half-started cluster cannot be closed cleanly). Python's multiprocessing resource
    tracker unblocks SIGINT in the thread that first starts it, so it is started before.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    resource_tracker.ensure_running()
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def start_worker_server() -> None:
    """Start the process that local workers are forked from, importing the experiments.

    Local workers use Dask's ``forkserver`` method with the experiments (torch, scipy,
    scikit-learn, ...) preloaded in the server. With the default ``spawn`` every worker, and
    every restart after ``--timeout``, imports them again: 4-5 s per process on an idle 2-core
    machine, 30 s under load. Called before the driver imports the experiments itself, the
    server imports them at the same time on another core, and workers then start in a fraction
    of a second. The server is a fresh single-threaded process (forking the driver, which runs
    Dask's threads, would not be safe); it ignores Ctrl-C and exits with the driver.
    """
    dask.config.set(LOCAL_CLUSTER_CONFIG)
    experiments = [
        f"{experiments_package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(experiments_package.__path__)
    ]
    get_mp_context().set_forkserver_preload(["distributed", *experiments])
    with interrupts_deferred():
        forkserver.ensure_running()


@contextmanager
def local_cluster(workers: int, timeout: float | None) -> Iterator[DaskExecutor]:
    """A ``LocalCluster`` of ``workers`` processes running one run each."""
    start_worker_server()
    with ExitStack() as stack:
        with interrupts_deferred():
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    # no dashboard; Dask's HTTP endpoints on a free port, not 8787
                    scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
            client.register_plugin(ExitWhenClosed())
        yield DaskExecutor(client, workers, timeout)


@contextmanager
def remote_cluster(address: str, timeout: float | None) -> Iterator[DaskExecutor]:
    """The cluster whose scheduler listens at ``address`` (its workers need theoropt too)."""
    with ExitStack() as stack:
        try:
            with interrupts_deferred():
                client = stack.enter_context(Client(address, timeout=CONNECT_SECONDS))
        except (OSError, TimeoutError, ValueError) as error:
            raise ExperimentError(
                f"cannot reach the Dask scheduler at {address}: {error}"
            ) from None
        yield DaskExecutor(client, None, timeout)


def dask_executor(
    address: str, jobs: int | None, timeout: float | None
) -> AbstractContextManager[DaskExecutor]:
    """``--dask local`` (``jobs`` workers, default one per core) or ``--dask ADDRESS``.

    Dask's own informational messages (start, stop, worker restarts) are silenced: the
    progress bar and the summary report what happened to each run.
    """
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if address == LOCAL:
        return local_cluster(jobs or available_cores(), timeout)
    return remote_cluster(address, timeout)
