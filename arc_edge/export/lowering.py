"""Lowering a bundle's graphs side by side.

ExecuTorch's lowering is single-threaded Python (about 25 ms per graph node), so with two or more
CPUs the heaviest graph goes to a worker process while this process lowers the others. The worker
is spawned, not forked: a forked child inherits torch's thread pool in whatever state it was and
deadlocked. The graph travels as plain pickle bytes (copied, not shared), because shared-memory
tensors cannot be made from inference tensors.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import torch

from .backends import BACKENDS, LoweringJob


def _lower(backend: str, job: LoweringJob) -> float:
    t0 = time.perf_counter()
    BACKENDS[backend].export(job)
    return round(time.perf_counter() - t0, 2)


def _lower_pickled(backend: str, payload: bytes) -> float:
    torch.set_num_threads(1)  # the parent lowers the other graphs on the other core
    return _lower(backend, pickle.loads(payload))


def lower_graphs(backend: str, jobs: list[LoweringJob], offload: str | None,
                 log: Callable[[str], None] = print) -> dict[str, float]:
    """Write every job's file; the job whose graph is named ``offload`` runs in a worker process
    when there is more than one CPU. -> seconds spent lowering each graph."""
    worker_job = next((j for j in jobs if j.name == offload), None) if (os.cpu_count() or 1) > 1 else None
    seconds: dict[str, float] = {}
    if worker_job is None:
        for job in jobs:
            log(f"exporting {job.name} ({job.recipe.quant}) to {backend} ...")
            seconds[job.name] = _lower(backend, job)
        return seconds
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        log(f"exporting {worker_job.name} ({worker_job.recipe.quant}) to {backend} in a worker process ...")
        future = pool.submit(_lower_pickled, backend, pickle.dumps(worker_job))
        for job in jobs:
            if job is not worker_job:
                log(f"exporting {job.name} ({job.recipe.quant}) to {backend} ...")
                seconds[job.name] = _lower(backend, job)
        seconds[worker_job.name] = future.result()
    return {job.name: seconds[job.name] for job in jobs}
