"""A problem: survey with data, model grid, true model and tiles, built from a run config."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh

from hpcinv.cases import build_case
from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError
from hpcinv.mesh import MeshSpec, ModelGrid, check_electrodes_in_mesh
from hpcinv.physics import TilePhysics, choose_solver, wavenumber_quadrature
from hpcinv.survey import Survey
from hpcinv.tiles import TileSpec, make_tiles

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything an executor needs. Arrays are in the survey's data order.

    dobs, uncertainty: (n_data,) volts; true_model: (n_cells,) ln(S/m) on the model grid,
    or None for field data; tiles: the work split, each carrying its slice of the data.
    """

    name: str
    survey: Survey
    mesh: TensorMesh
    model_grid: ModelGrid
    true_model: np.ndarray | None
    tiles: list[TileSpec]
    solver: str
    clean_data: np.ndarray | None = None

    @property
    def n_data(self) -> int:
        return self.survey.n_data

    @property
    def dobs(self) -> np.ndarray:
        return self.survey.dobs

    @property
    def uncertainty(self) -> np.ndarray:
        return self.survey.uncertainty

    @property
    def dim(self) -> int:
        return self.mesh.dim


def build_problem(config: RunConfig) -> Problem:
    """Build the problem a config describes; synthetic cases get their data simulated here."""
    pc = config.problem
    if pc.noise_percent == 0 and pc.noise_floor == 0:
        raise ConfigError("problem.noise_percent and problem.noise_floor are both 0: the data "
                          "would have zero uncertainty; set either > 0")
    case = build_case(pc.case)
    check_electrodes_in_mesh(case.mesh, case.survey.electrodes, what=f"case {case.name}")
    dim = case.mesh.dim
    solver = choose_solver(config.physics.solver, dim)
    ky_points = ky_weights = None
    if dim == 2:
        ky_points, ky_weights = wavenumber_quadrature(case.mesh, config.physics.nky)
    mesh_spec = MeshSpec.from_mesh(case.mesh)

    def tiles_for(survey, weights=None):
        return make_tiles(survey, mesh_spec, config.physics.n_tiles, solver,
                          ky_points=ky_points, ky_weights=ky_weights, weights=weights)

    log.info("simulating data of %s (%d data, %d sources)", case.name, case.survey.n_data,
             case.survey.n_sources)
    clean = simulate(tiles_for(case.survey), case.true_model, case.survey.n_data)
    rng = np.random.default_rng(pc.noise_seed)
    rel = pc.noise_percent / 100.0
    dobs = clean + rel * np.abs(clean) * rng.standard_normal(clean.size)
    # the paper's weighting: W = 1 / (0.05 |dobs|), plus an optional absolute floor
    uncertainty = rel * np.abs(dobs) + pc.noise_floor
    survey = case.survey.with_data(dobs, uncertainty)
    return Problem(name=case.name, survey=survey, mesh=case.mesh,
                   model_grid=ModelGrid(case.mesh), true_model=case.true_model,
                   tiles=tiles_for(survey, weights=1.0 / uncertainty), solver=solver,
                   clean_data=clean)


def simulate(tiles: list[TileSpec], m: np.ndarray, n_data: int) -> np.ndarray:
    """Predicted data (n_data,) of model ``m`` over ``tiles``, serially, freeing as it goes."""
    d = np.empty(n_data)
    for spec in tiles:
        physics = TilePhysics(spec)
        d[spec.data_rows] = physics.predict(m)
        physics.free()
    return d
