"""One job on several processes (`accelerate launch`, `torchrun`): who writes, and waiting for it.

Every process composes the same config, loads the same data and model, and trains
its shard through TRL/accelerate (DDP, FSDP or DeepSpeed, as the launcher's config
says). Only the main process writes: data reports, the manifest, adapters, metrics,
evaluation and W&B. The others wait at a barrier where they need its files.
"""

from __future__ import annotations

# Rank and world size come from the launcher's environment, not accelerate.PartialState: its first
# use joins the process group, which turns the barriers below (no-ops until the trainer joins it)
# into real ones that the model-build and stage-folder steps do not call on every rank: tried, and
# the two-process job hung (tests/test_distributed.py).

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """True in a single process, and in the process of rank 0 of a launched group."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every process of the group (no-op in a single process)."""
    import torch.distributed as dist

    if world_size() > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()
