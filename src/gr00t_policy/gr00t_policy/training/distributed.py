"""Devices and multi-process (DDP) plumbing for fine-tuning: one process per device, launched by ``torchrun``.

``torchrun --nproc_per_node N $(which gr00t-finetune) ...`` starts N copies of the trainer with
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (and the rendezvous address) in the environment.
:func:`distributed_session` then initialises the default process group (``nccl`` on CUDA, ``gloo``
on the CPU), pins each process to ``cuda:<LOCAL_RANK>``, and destroys the group at the end.
Without those variables nothing is initialised and :class:`DistributedContext` is a world of one
whose collectives are no-ops, so a single-process run takes exactly the code path it always did.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (``torch.distributed.run``) started this process."""
    return all(name in os.environ for name in TORCHRUN_ENV)


def env_rank() -> int:
    """This process's global rank from the launcher's environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


@dataclass(frozen=True)
class DistributedContext:
    """Rank, world size and collectives of the current run; a world of one when not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def current(cls) -> DistributedContext:
        """The default process group if one is initialised, else a single process."""
        if dist.is_available() and dist.is_initialized():
            return cls(
                rank=dist.get_rank(),
                world_size=dist.get_world_size(),
                local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            )
        return cls()

    @property
    def enabled(self) -> bool:
        """A process group is in use (even a world of one under ``torchrun --nproc_per_node 1``)."""
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, logs and plots."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: float, device: torch.device) -> float:
        """Mean of ``value`` over all ranks (``value`` itself in a single process)."""
        if not self.enabled or self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return float(tensor.item()) / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (``[obj]`` in a single process)."""
        if not self.enabled:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else cpu; other names are passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def _device_for_rank(device: torch.device, local_rank: int) -> torch.device:
    """One device per process: any CUDA request becomes ``cuda:<LOCAL_RANK>``."""
    if device.type != "cuda":
        return device
    if device.index is not None and device.index != local_rank:
        logger.warning("device %s ignored under torchrun: rank uses cuda:%d (LOCAL_RANK)", device, local_rank)
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices: "
            "lower --nproc_per_node or use --device cpu"
        )
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def distributed_session(
    device: torch.device, *, timeout_s: float = 1800.0
) -> Iterator[tuple[DistributedContext, torch.device]]:
    """Initialise the process group when launched by torchrun; yield (context, this rank's device).

    The group is destroyed on the way out (also after an error), but only if this function
    created it; an already initialised group (a caller's own) is used and left alone.
    """
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        # Single process, or a group the caller set up (and whose devices the caller chose).
        yield DistributedContext.current(), device
        return
    if not dist.is_available():
        raise RuntimeError("launched by torchrun but this torch build has no torch.distributed")
    local_rank = int(os.environ["LOCAL_RANK"])
    device = _device_for_rank(device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before init: NCCL binds each rank to its own GPU
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend=backend,
        timeout=datetime.timedelta(seconds=timeout_s),
        device_id=device if device.type == "cuda" else None,
    )
    context = DistributedContext.current()
    logger.info("process group: %s, rank %d of %d, device %s", backend, context.rank, context.world_size, device)
    try:
        yield context, device
    finally:
        dist.destroy_process_group()
