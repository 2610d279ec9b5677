"""What a member asks of the physics for a step, and what it gets back.

A member's step says what it needs (``Member.begin``): the misfit and its gradient at a
model, the data and J at a model (a linearisation), the data at a few models (trial steps),
or nothing (a step on a linearisation it holds). The stepper gathers the members' needs,
makes one batched executor call per kind and hands each member its answer
(``Member.finish``). Models are (n_cells,) float64 ln(S/m) on the model grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class MisfitNeed:
    """phi = 0.5 ||W (d(m) - dobs)||^2 and g = dphi/dm at ``model``: answered (phi, g)."""

    model: np.ndarray


@dataclass(frozen=True, eq=False)
class LinearizationNeed:
    """The data and J = dd/dm at ``model`` (J as ``dtype``): answered (d, J), J dense here;
    or with ``keep``, J's rows kept by the tiles: answered (d, KeptJacobian), whose products
    run where the rows are (a member that needs J only for products during its step)."""

    model: np.ndarray
    dtype: str = "float32"
    keep: bool = False


@dataclass(frozen=True, eq=False)
class PredictionNeed:
    """The data at each of ``models`` ((k, n_cells)): answered [d_1, ..., d_k]."""

    models: np.ndarray


Need = MisfitNeed | LinearizationNeed | PredictionNeed
