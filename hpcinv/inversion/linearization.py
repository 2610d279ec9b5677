"""The data misfit near a model m0 from the data and J there (``Linearization``)."""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger(__name__)


class Linearization:
    """phi(m) ~ 0.5 || r0 + W J (m - m0) ||^2, r0 = W (d(m0) - dobs), W = 1 / uncertainty.
    Exact at m0 (value and gradient, J in float32); a network step on it costs two
    products with the dense W J instead of a forward and an adjoint solve per tile."""

    def __init__(self, m0: torch.Tensor, r0: torch.Tensor, WJ: torch.Tensor):
        self.m0, self.r0, self.WJ = m0, r0, WJ
        #: the physics' misfit at m0
        self.phi0 = 0.5 * float(r0 @ r0)

    @classmethod
    def from_jacobian(
        cls,
        m0: np.ndarray,
        d: np.ndarray,
        J: np.ndarray,
        dobs: np.ndarray,
        uncertainty: np.ndarray,
        device: torch.device,
    ) -> Linearization:
        """The linearisation at m0 from its data d (n_data,) and J (n_data, n_cells; scaled
        by W in place)."""
        w = 1.0 / uncertainty
        J *= w.astype(np.float32)[:, None]
        r0 = w * (d - dobs)
        log.debug("linearised at chi %.4g", float(r0 @ r0) / d.size)
        return cls(
            torch.as_tensor(m0, dtype=torch.float64, device=device),
            torch.as_tensor(r0, dtype=torch.float64, device=device),
            torch.as_tensor(J, device=device),
        )

    def misfit(self, m: torch.Tensor) -> torch.Tensor:
        dm = (m - self.m0).to(self.WJ.dtype)
        r = self.r0 + (self.WJ @ dm).to(self.r0.dtype)
        return 0.5 * (r * r).sum()
