"""One job on several processes (`accelerate launch`, `torchrun`): who writes, and waiting for it.

Every process composes the same config, loads the same data and model, and trains
its shard through TRL/accelerate (DDP, FSDP or DeepSpeed, as the launcher's config
says). Only the main process writes: data reports, the manifest, adapters, metrics,
evaluation and W&B. The others wait at a barrier where they need its files.
"""

from __future__ import annotations


def _state():
    """accelerate's process state, the one TRL's trainers use (a singleton). Under `accelerate launch`
    or `torchrun` its first use joins the process group. `cpu` must be said on a machine without CUDA:
    without it, accelerate takes a CPU group of processes for one process, each rank takes the
    single-process paths, and they wait on each other forever (tried: the two-process job hung)."""
    import torch

    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def world_size() -> int:
    return _state().num_processes


def is_main() -> bool:
    """True in a single process, and in the process of rank 0 of a launched group."""
    return _state().is_main_process


def barrier() -> None:
    """Wait for every process of the group (no-op in a single process)."""
    _state().wait_for_everyone()
