"""The 2.5D wavenumber quadrature, computed once per mesh so every tile shares it."""

from __future__ import annotations

import warnings

import numpy as np
from discretize import TensorMesh


def wavenumber_quadrature(mesh: TensorMesh, nky: int) -> tuple[np.ndarray, np.ndarray]:
    """SimPEG's optimised wavenumbers (1/m) and weights for the inverse Fourier transform in y.

    SimPEG computes them from the mesh alone when a ``Simulation2DNodal`` is made; taking
    them from there keeps hpcinv's data identical to SimPEG's for the same mesh.
    """
    from pymatsolver import SolverLU
    from simpeg.electromagnetics.static.resistivity import Simulation2DNodal

    with warnings.catch_warnings():  # SimPEG warns about SolverLU, which is never used here
        warnings.simplefilter("ignore")
        sim = Simulation2DNodal(mesh, nky=nky, solver=SolverLU)
    return np.array(sim._quad_points, dtype=float), np.array(sim._quad_weights, dtype=float)
