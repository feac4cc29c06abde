"""Dask clusters for recovar_jl: start or join one, warm Julia on every worker, sum results.

A worker is a separate process with its own embedded Julia (spawned, never forked: Julia
cannot run in a forked child). :class:`WarmJulia` starts Julia once per worker process, with
the chosen number of Julia threads, and compiles the backprojection kernels before the first
task. :func:`tree_sum` adds accumulators pairwise on the workers, so only the final sum
reaches the client. See docs/scaling.md.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from distributed import Client, LocalCluster, WorkerPlugin

from .errors import JobError

# How long to wait for a scheduler to answer, and for an existing cluster to show a worker.
CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 60

_worker_problem: Optional[str] = None  # set in a worker process by WarmJulia.setup


@dataclass(frozen=True)
class ClusterOptions:
    """Where the work runs: ``workers`` local processes, or an existing scheduler.

    Exactly one of ``workers``, ``scheduler`` (``tcp://HOST:PORT``) and ``scheduler_file``.
    ``threads_per_worker``: Julia threads in each worker (default: cores / workers for a
    local cluster; the worker's ``RECOVAR_JL_NUM_THREADS`` or all its cores otherwise).
    ``dashboard_address``: where a local cluster serves its dashboard (":0" = any free port).
    """

    workers: Optional[int] = None
    threads_per_worker: Optional[int] = None
    scheduler: Optional[str] = None
    scheduler_file: Optional[str] = None
    dashboard_address: str = ":8787"

    def __post_init__(self):
        given = [name for name, value in (("--workers", self.workers), ("--scheduler", self.scheduler),
                                          ("--scheduler-file", self.scheduler_file)) if value is not None]
        if not given and self.threads_per_worker is not None:
            raise JobError("--threads-per-worker needs --workers, --scheduler or --scheduler-file")
        if len(given) != 1:
            raise JobError(f"give exactly one of --workers, --scheduler and --scheduler-file, got "
                           f"{', '.join(given) or 'none'}")
        if self.workers is not None and self.workers < 1:
            raise JobError(f"--workers must be at least 1, got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise JobError(f"--threads-per-worker must be at least 1, got {self.threads_per_worker}")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise JobError(f"--scheduler must look like tcp://HOST:PORT, got {self.scheduler!r}")

    def julia_threads(self) -> Optional[int]:
        if self.threads_per_worker is not None:
            return self.threads_per_worker
        if self.workers is not None:
            return max(1, (os.cpu_count() or 1) // self.workers)
        return None


class WarmJulia(WorkerPlugin):
    """Worker plugin: start Julia (``threads`` Julia threads) and compile the kernels once.

    Registered with :func:`connect`; Dask runs ``setup`` on every worker, including workers
    that join or restart later. A worker whose Julia cannot start keeps the error and
    reports it through :func:`check_worker`.
    """

    name = "recovar_jl-warm-julia"

    def __init__(self, threads: Optional[int]):
        self.threads = threads

    def setup(self, worker=None):
        # The thread count only applies before Julia starts in this process.
        if self.threads is not None:
            os.environ["RECOVAR_JL_NUM_THREADS"] = str(self.threads)
        global _worker_problem
        try:
            warm_kernels()
            _worker_problem = None
        except Exception as exc:  # kept for check_worker: a plugin error would not reach the client
            _worker_problem = f"{type(exc).__name__}: {_first_line(exc)}"


def warm_kernels() -> None:
    """Start Julia and run a tiny backprojection so that the first real task is not compiling
    (nor importing the STAR and MRC readers)."""
    import numpy as np

    from . import mrc, star  # noqa: F401  (pandas, starfile, mrcfile: seconds on a first import)
    from .reconstruct import Backprojector

    bp = Backprojector(8, 1.0)
    images = np.zeros((2, 8, 8), dtype=np.float32)
    ctf = np.tile(np.array([1e4, 1e4, 0, 300, 2.7, 0.1, 0, 0, 1], dtype=np.float32), (2, 1))
    bp.add_images(images, np.tile(np.eye(3, dtype=np.float32), (2, 1, 1)), np.zeros((2, 2), np.float32), ctf,
                  np.array([0, 1]))


def check_worker() -> dict:
    """Run on a worker: its Julia problem (None if fine), thread count and host name."""
    import socket

    problem, threads = _worker_problem, None
    if problem is None:
        from .. import _julia

        try:
            threads = int(_julia.runtime_info()["julia_threads"])
        except Exception as exc:
            problem = f"{type(exc).__name__}: {_first_line(exc)}"
    return {"problem": problem, "threads": threads, "host": socket.gethostname(), "pid": os.getpid()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def connect(options: ClusterOptions, say: Callable[[str], None] = print,
            preflight: Optional[Callable] = None) -> Iterator:
    """A ``distributed.Client`` on ready, Julia-warmed workers; closed (local cluster too) on exit.

    ``preflight(client)`` runs once workers are there, before Julia is warmed (cheap checks
    first). Raises JobError (one line) when the scheduler cannot be reached, has no workers,
    or a worker cannot start Julia.
    """
    import logging

    with contextlib.ExitStack() as stack:
        if options.workers is not None:
            say(f"starting a local Dask cluster of {options.workers} worker processes × "
                f"{options.julia_threads()} Julia threads")
            cluster = stack.enter_context(LocalCluster(
                n_workers=options.workers, threads_per_worker=1, processes=True,
                dashboard_address=options.dashboard_address, silence_logs=logging.CRITICAL))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(_client_for(options))
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            raise JobError(f"the Dask scheduler at {client.scheduler.address} has no workers after "
                           f"{WORKER_WAIT_S} s; start some with 'dask worker {client.scheduler.address}'") from None
        if preflight is not None:
            preflight(client)
        client.register_plugin(WarmJulia(options.julia_threads()))
        report = client.run(check_worker)
        bad = {addr: r for addr, r in report.items() if r["problem"]}
        if bad:
            addr, r = next(iter(bad.items()))
            raise JobError(f"Dask worker {addr} (host {r['host']}) cannot run recovar_jl: {r['problem']}")
        threads = sorted({r["threads"] for r in report.values()})
        say(f"Dask: {len(report)} workers × {'/'.join(str(t) for t in threads)} Julia threads, "
            f"scheduler {client.scheduler.address}, dashboard {client.dashboard_link}")
        yield client


def _client_for(options: ClusterOptions):
    if options.scheduler_file is not None:
        path = Path(options.scheduler_file)
        if not path.is_file():
            raise JobError(f"--scheduler-file {path}: no such file; give the file written by "
                           f"'dask scheduler --scheduler-file {path}'")
        target = {"scheduler_file": str(path)}
        where = f"the scheduler of {path}"
    else:
        target = {"address": options.scheduler}
        where = options.scheduler
    try:
        return Client(**target, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, KeyError) as exc:
        raise JobError(f"cannot reach the Dask scheduler at {where} within {CONNECT_TIMEOUT_S} s "
                       f"({_first_line(exc)}); check the address and that 'dask scheduler' runs there") from None


def tree_sum(client, futures: List, merge: Callable, priority: int = 1):
    """Sum futures pairwise on the workers (``merge(a, b)`` → a + b); returns the root future.

    log2(len) levels; each merge moves at most one operand between workers. Merges get a
    higher priority than the tasks feeding them, so sums happen as soon as both operands
    exist and workers hold few partial results at a time.
    """
    if not futures:
        raise ValueError("tree_sum needs at least one future")
    level = list(futures)
    depth = 0
    while len(level) > 1:
        depth += 1
        paired = [client.submit(merge, a, b, pure=False, priority=priority + depth)
                  for a, b in zip(level[0::2], level[1::2])]
        level = paired + level[len(paired) * 2:]
    return level[0]
