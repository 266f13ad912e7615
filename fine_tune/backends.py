"""Which library trains: `backend=auto|hf|unsloth`.

hf is transformers + PEFT on any device. Unsloth's fused kernels need a CUDA
GPU; its backend lands with issue 4, until then choosing it says so.
"""

from __future__ import annotations

import importlib.util

from fine_tune.errors import UserError


def resolve_backend(name: str) -> str:
    """The backend that will actually run for `backend.name`."""
    name = str(getattr(name, "value", name))
    if name == "hf":
        return "hf"
    if name == "unsloth":
        raise UserError("backend=unsloth is not available yet (the Unsloth backend lands with issue 4): use backend=hf")
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("unsloth") is not None:
        # Unsloth is installed but its backend is not wired yet: say so once.
        import logging

        logging.getLogger(__name__).info("unsloth found, but its backend is not available yet; using hf")
    return "hf"
