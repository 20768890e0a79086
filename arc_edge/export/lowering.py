"""Lowering a bundle's graphs side by side.

ExecuTorch's lowering is single-threaded Python (about 25 ms per graph node), so with two or more
CPUs the heaviest graph goes to a worker process while this process lowers the others. The worker
is spawned, not forked: a forked child inherits torch's thread pool in whatever state it was and
deadlocked. The graph travels as plain pickle bytes (copied, not shared), because shared-memory
tensors cannot be made from inference tensors.

The worker never outlives this process: the kernel kills it when its parent dies (even by kill -9),
it ignores Ctrl-C (the parent handles it and prints one line), and any way this process leaves
lowering early (an error, Ctrl-C, SIGTERM) kills and reaps it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable

import torch

from ..errors import ArcEdgeError, first_line
from .backends import BACKENDS, LoweringJob

PR_SET_PDEATHSIG = 1


class LoweringError(ArcEdgeError):
    pass


def _lower(backend: str, job: LoweringJob) -> float:
    t0 = time.perf_counter()
    try:
        BACKENDS[backend].export(job)
    except ArcEdgeError:
        raise
    except OSError as exc:
        raise LoweringError(f"cannot write {job.path} ({exc.strerror or exc}); check the disk space") from None
    except Exception as exc:  # ExecuTorch and torch.export raise many types; the user gets one line
        raise LoweringError(f"lowering the {job.name} graph to {backend} failed ({type(exc).__name__}: "
                            f"{first_line(exc)})") from exc
    return round(time.perf_counter() - t0, 2)


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the parent kills it on every way out
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker(backend: str, payload: bytes, parent: int, conn) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent answers it
    torch.set_num_threads(1)  # the parent lowers the other graphs on the other core
    try:
        conn.send(("ok", _lower(backend, pickle.loads(payload))))
    except ArcEdgeError as exc:
        conn.send(("error", str(exc)))
    finally:
        conn.close()


class _WorkerProcess:
    """One spawned lowering process and the pipe its result comes back through."""

    def __init__(self, backend: str, job: LoweringJob):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(backend, pickle.dumps(job), os.getpid(), child), daemon=True)
        # The child starts with Ctrl-C ignored (inherited across exec; Python then installs no
        # KeyboardInterrupt handler): a Ctrl-C while it is still importing prints no traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.proc.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        child.close()

    def result(self) -> float:
        try:
            status, value = self.conn.recv()
        except EOFError:
            self.proc.join()
            raise LoweringError(f"the lowering worker died (exit code {self.proc.exitcode}); "
                                "try again with more free memory") from None
        self.proc.join()
        if status == "error":
            raise LoweringError(value)
        return value

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def lower_graphs(backend: str, jobs: list[LoweringJob], offload: str | None,
                 log: Callable[[str], None] = print) -> dict[str, float]:
    """Write every job's file; the job whose graph is named ``offload`` runs in a worker process
    when there is more than one CPU. -> seconds spent lowering each graph."""
    worker_job = next((j for j in jobs if j.name == offload), None) if (os.cpu_count() or 1) > 1 else None
    seconds: dict[str, float] = {}
    worker = None
    if worker_job is not None:
        worker = _WorkerProcess(backend, worker_job)
        log(f"exporting {worker_job.name} ({worker_job.recipe.quant}) to {backend} in a worker process "
            f"(pid {worker.proc.pid}) ...")
    try:
        for job in jobs:
            if job is not worker_job:
                log(f"exporting {job.name} ({job.recipe.quant}) to {backend} ...")
                seconds[job.name] = _lower(backend, job)
        if worker is not None:
            seconds[worker_job.name] = worker.result()
    finally:
        if worker is not None:
            worker.kill()  # a no-op after a result; on any other way out, the worker must not outlive us
    return {job.name: seconds[job.name] for job in jobs}
