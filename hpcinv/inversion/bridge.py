"""The autograd bridge from a torch model tensor to the physics' data misfit.

``DataMisfit`` is a ``torch.autograd.Function``: its forward calls the executor's
``misfit_and_gradient(m)`` once (float64, on the CPU) and returns phi_d as a 0-d tensor; its
backward returns the gradient the executor computed with the same factorization, cast to the
network's dtype and device. No surrogate loss: gradcheck tests this Function directly.

With a ``scale`` (n_cells,) the backward returns scale * dphi_d/dm instead: a diagonal
preconditioner of the data term (``inversion.precondition``), no longer phi_d's gradient.
"""

from __future__ import annotations

import numpy as np
import torch


class DataMisfit(torch.autograd.Function):
    """phi_d(m) = 0.5 ||W (F(m) - dobs)||^2 with dphi_d/dm from the executor's adjoint."""

    @staticmethod
    def forward(ctx, m: torch.Tensor, executor, scale: np.ndarray | None = None) -> torch.Tensor:
        m64 = m.detach().to(device="cpu", dtype=torch.float64).numpy()
        phi, g = executor.misfit_and_gradient(np.ascontiguousarray(m64))
        if scale is not None:
            g = scale * g
        ctx.save_for_backward(torch.as_tensor(g, dtype=m.dtype, device=m.device))
        return torch.as_tensor(phi, dtype=m.dtype, device=m.device)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (g,) = ctx.saved_tensors
        return grad_output * g, None, None


class KnownMisfit(torch.autograd.Function):
    """phi_d and its gradient computed before (an ensemble sends all its members' models to
    the executor at once), attached to the model tensor they belong to."""

    @staticmethod
    def forward(ctx, m: torch.Tensor, phi: float, g: np.ndarray) -> torch.Tensor:
        ctx.save_for_backward(torch.as_tensor(g, dtype=m.dtype, device=m.device))
        return torch.as_tensor(phi, dtype=m.dtype, device=m.device)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (g,) = ctx.saved_tensors
        return grad_output * g, None, None


def known_misfit(
    m: torch.Tensor, phi: float, g: np.ndarray, scale: np.ndarray | None = None
) -> torch.Tensor:
    """phi_d of ``m`` from a ``misfit_and_gradient`` already made at ``m``; the gradient
    scaled per cell by ``scale`` when one is given, as ``data_misfit`` does."""
    return KnownMisfit.apply(m, phi, g if scale is None else scale * g)


def data_misfit(m: torch.Tensor, executor, scale: np.ndarray | None = None) -> torch.Tensor:
    """phi_d of model tensor ``m`` (n_cells,), differentiable through the executor; its
    gradient scaled per cell by ``scale`` when one is given."""
    return DataMisfit.apply(m, executor, scale)


def sensitivity_scale(
    diag: np.ndarray, active: np.ndarray | None, power: float, floor: float
) -> np.ndarray:
    """(D_ref / max(D, floor D_ref))^power, at least 1, D = diag(J^T W^2 J), D_ref its 99th
    percentile over the active cells: well-seen cells keep their gradient, weakly seen ones
    are raised by up to floor^-power. Inactive cells get 1 (their gradient is 0 anyway)."""
    cells = diag if active is None else diag[active]
    ref = float(np.percentile(cells, 99))
    if not ref > 0:
        return np.ones_like(diag)
    return np.maximum(1.0, (ref / np.maximum(diag, floor * ref)) ** power)
