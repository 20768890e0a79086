"""torchrun/DDP plumbing: one process per device, gloo on CPU, NCCL on GPU; rank 0 does the I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_as_rank_zero() -> bool:
    """Whether torchrun started this process as rank 0 (or no torchrun at all): readable before setup(),
    for what only one process should print or create."""
    return os.environ.get("RANK", "0") == "0"


def setup() -> DistEnv:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return DistEnv(rank, world, device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def wrap(module: nn.Module, env: DistEnv) -> nn.Module:
    if not env.enabled:
        return module
    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def mean_across_ranks(values: dict[str, float], env: DistEnv) -> dict[str, float]:
    if not env.enabled or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return {k: v / env.world_size for k, v in zip(values, t.tolist(), strict=True)}
