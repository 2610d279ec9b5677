"""The same survey as stock SimPEG objects: the reference hpcinv is tested and timed against.

Data order matches the ``Survey``'s rows (receivers are grouped per source in row order; a
source whose rows mix dipole and pole receivers gets one receiver object of each kind, which
is why tests reorder through ``simpeg_data_order``).
"""

from __future__ import annotations

import warnings

import numpy as np
from discretize import TensorMesh

from hpcinv.survey import REMOTE, Survey


def simpeg_survey(survey: Survey):
    """(simpeg Survey, order): ``order[i]`` is the ``Survey`` row of SimPEG's datum i."""
    from simpeg.electromagnetics.static import resistivity as dc

    el = survey.electrodes
    sources, order = [], []
    for s, (a, b) in enumerate(survey.sources):
        rows = np.flatnonzero(survey.source_of_datum == s)
        receivers = []
        for pole in (False, True):
            r = rows[(survey.abmn[rows, 3] == REMOTE) == pole]
            if r.size == 0:
                continue
            if pole:
                receivers.append(dc.receivers.Pole(el[survey.abmn[r, 2]]))
            else:
                receivers.append(dc.receivers.Dipole(el[survey.abmn[r, 2]], el[survey.abmn[r, 3]]))
            order.extend(r)
        if b == REMOTE:
            sources.append(dc.sources.Pole(receivers, el[a]))
        else:
            sources.append(dc.sources.Dipole(receivers, el[a], el[b]))
    return dc.Survey(sources), np.asarray(order)


def _fixed_2d_class():
    """``Simulation2DNodal`` that drops its Robin-term derivative when the model changes.

    SimPEG 0.25 caches ``_MBC_sigma`` (= AvgBC @ sigmaDeriv, model-dependent with ExpMap) and
    never clears it in 2D (3D does, via ``_clear_on_sigma_update``), so a reused 2.5D
    simulation returns gradients of the first model's boundary term (5e-4 relative drift after
    two 1e-3 steps, measured). Upstream-worthy; here a one-line subclass.
    """
    from simpeg.electromagnetics.static.resistivity import Simulation2DNodal

    class Simulation2DNodalFixed(Simulation2DNodal):
        @property
        def _clear_on_sigma_update(self):
            return super()._clear_on_sigma_update + ["_MBC_sigma"]

    return Simulation2DNodalFixed


def simpeg_simulation(
    mesh: TensorMesh, survey: Survey, *, solver: str = "mumps", nky: int = 11, **kwargs
):
    """(stock SimPEG nodal simulation with ``ExpMap`` (model = ln sigma), data order)."""
    from pymatsolver import Mumps, SolverLU
    from simpeg import maps
    from simpeg.electromagnetics.static import resistivity as dc

    sv, order = simpeg_survey(survey)
    solver_cls = {"mumps": Mumps, "superlu": SolverLU}[solver]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mesh.dim == 2:
            sim = _fixed_2d_class()(
                mesh,
                survey=sv,
                sigmaMap=maps.ExpMap(mesh),
                nky=nky,
                solver=solver_cls,
                bc_type="Robin",
                **kwargs,
            )
        else:
            sim = dc.Simulation3DNodal(
                mesh,
                survey=sv,
                sigmaMap=maps.ExpMap(mesh),
                solver=solver_cls,
                bc_type="Robin",
                **kwargs,
            )
    if solver == "mumps":
        # the nodal matrix is symmetric; pymatsolver's exact test fails on round-off
        sim.solver_opts = {"is_symmetric": True}
    return sim, order
