"""The autograd bridge from a torch model tensor to the physics' data misfit.

``DataMisfit`` is a ``torch.autograd.Function``: its forward calls the executor's
``misfit_and_gradient(m)`` once (float64, on the CPU) and returns phi_d as a 0-d tensor; its
backward returns the gradient the executor computed with the same factorization, cast to the
network's dtype and device. No surrogate loss: gradcheck tests this Function directly.
"""

from __future__ import annotations

import numpy as np
import torch


class DataMisfit(torch.autograd.Function):
    """phi_d(m) = 0.5 ||W (F(m) - dobs)||^2 with dphi_d/dm from the executor's adjoint."""

    @staticmethod
    def forward(ctx, m: torch.Tensor, executor) -> torch.Tensor:
        m64 = m.detach().to(device="cpu", dtype=torch.float64).numpy()
        phi, g = executor.misfit_and_gradient(np.ascontiguousarray(m64))
        ctx.save_for_backward(torch.as_tensor(g, dtype=m.dtype, device=m.device))
        return torch.as_tensor(phi, dtype=m.dtype, device=m.device)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (g,) = ctx.saved_tensors
        return grad_output * g, None


def data_misfit(m: torch.Tensor, executor) -> torch.Tensor:
    """phi_d of model tensor ``m`` (n_cells,), differentiable through the executor."""
    return DataMisfit.apply(m, executor)
