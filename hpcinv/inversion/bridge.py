"""The autograd bridge from a torch model tensor to the physics' data misfit.

``PhysicsMisfit`` is a ``torch.autograd.Function``: it attaches phi_d = 0.5 ||W (F(m) -
dobs)||^2 and its gradient g = dphi_d/dm, computed by the executor at m (float64, on the
CPU), to the model tensor m; its backward returns grad_output * g in the network's dtype and
device. No surrogate loss: gradcheck tests it through the executor
(tests/inversion/test_bridge.py).
"""

from __future__ import annotations

import numpy as np
import torch


class PhysicsMisfit(torch.autograd.Function):
    """phi_d of ``m`` from the physics' (phi, g) at ``m``."""

    @staticmethod
    def forward(ctx, m: torch.Tensor, phi: float, g: np.ndarray) -> torch.Tensor:
        ctx.save_for_backward(torch.as_tensor(g, dtype=m.dtype, device=m.device))
        return torch.as_tensor(phi, dtype=m.dtype, device=m.device)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (g,) = ctx.saved_tensors
        return grad_output * g, None, None


def physics_misfit(m: torch.Tensor, phi: float, g: np.ndarray) -> torch.Tensor:
    """phi_d of model tensor ``m`` (n_cells,), differentiable, from (phi, g) computed at m."""
    return PhysicsMisfit.apply(m, phi, g)
