"""Where a member's network runs and on how many CPU threads."""

from __future__ import annotations

import torch

from hpcinv.errors import InversionError


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InversionError(
            "inversion.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"
        )
    if requested == "cuda":
        # The network is float32 on every device. Ampere and later GPUs would otherwise run
        # float32 convolutions in TF32 (10-bit mantissa): measured on an H200, CNN3D weight
        # gradients then differ from CPU ones by ~1e-3 relative. These networks are small
        # (20k weights), so full float32 costs little and keeps CPU and GPU runs comparable.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(requested)


def set_network_threads(n: int) -> None:
    """Run torch's CPU operators on exactly ``n`` threads. The float32 network's results
    depend on the count (stage 1 ended 0.014 apart in weights with 1 vs 2 threads) but not on
    the cores the process may use (measured with ``taskset``), so the run file fixes it."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
