"""Problems of the built-in synthetic cases: the case's mesh, survey and true model, and data
simulated from it with Gaussian noise of a fixed seed."""

from __future__ import annotations

import logging

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError
from hpcinv.physics import choose_solver
from hpcinv.problem.cases import SiteCase, build_case
from hpcinv.problem.observed import observed_survey
from hpcinv.problem.problem import (
    AIR_LOG_CONDUCTIVITY,
    Problem,
    ProblemInfo,
    problem_from_survey,
    simulate,
)
from hpcinv.problem.site import octree_site, octree_tiles, predict_on_tiles
from hpcinv.survey import Survey

log = logging.getLogger(__name__)


def synthetic_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """The problem of ``config.problem.case`` (see ``build_problem``)."""
    pc, physics = config.problem, config.physics
    if pc.case is None:  # pragma: no cover - the config validates case xor data
        raise ConfigError("problem.case is not set")
    _check_noise(config)
    case = build_case(pc.case)
    if isinstance(case, SiteCase):
        return site_case_problem(case, config, with_data=with_data)
    survey, clean, info = case.survey, None, None
    if with_data:
        if pc.observed:
            survey, notes = observed_survey(case.survey, config, case.name)
            info = ProblemInfo(notes={"observed": notes})
        log.info(
            "simulating %s data of %s (%d data, %d sources)",
            "noise-free" if pc.observed else "the",
            case.name,
            survey.n_data,
            survey.n_sources,
        )
        clean = simulate(
            case.mesh,
            survey,
            case.true_model,
            solver=physics.solver,
            nky=physics.nky,
            blas_threads=physics.threads,
        )
        if not pc.observed:
            survey = survey.with_data(*_noisy(clean, config))
    return problem_from_survey(
        case.name,
        case.mesh,
        survey,
        physics,
        true_model=case.true_model,
        clean_data=clean,
        core_mask=case.core_mask,
        info=info,
    )


def _check_noise(config: RunConfig) -> None:
    pc = config.problem
    if pc.noise_percent == 0 and pc.noise_floor == 0:
        raise ConfigError(
            "problem.noise_percent and problem.noise_floor are both 0: the data "
            "would have zero uncertainty; set either > 0"
        )


def _noisy(clean: np.ndarray, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """(dobs, uncertainty): Gaussian noise of problem.noise_percent (fixed seed), the paper's
    weighting W = 1 / (noise |dobs|) plus the optional absolute floor."""
    pc = config.problem
    rng = np.random.default_rng(pc.noise_seed)
    rel = pc.noise_percent / 100.0
    dobs = clean + rel * np.abs(clean) * rng.standard_normal(clean.size)
    return dobs, rel * np.abs(dobs) + pc.noise_floor


def site_case_problem(case: SiteCase, config: RunConfig, *, with_data: bool = True) -> Problem:
    """A site case (grid-3d) built like field data: octree meshes from its electrodes and
    surface (``[mesh]`` settings apply), data simulated on the tiles' own octrees from the
    true model evaluated at their cells, the true model on the grid for scoring."""
    physics = config.physics
    _check_noise(config)
    site = octree_site(case.survey.electrodes, case.survey.abmn, case.topography, config.mesh)
    observed, observed_notes = None, None
    if with_data and config.problem.observed:
        observed, observed_notes = observed_survey(case.survey, config, case.name)
    abmn = case.survey.abmn if observed is None else observed.abmn
    survey = Survey(site.electrodes, abmn, name=case.survey.name)
    tiles = octree_tiles(
        site,
        survey,
        n_tiles=physics.n_tiles,
        solver=choose_solver(physics.solver, 3),
        inactive_value=AIR_LOG_CONDUCTIVITY,
        blas_threads=physics.threads,
    )
    true_model = np.where(
        site.grid_active, case.model(site.grid.cell_centers), AIR_LOG_CONDUCTIVITY
    )
    clean = None
    if with_data:
        log.info(
            "simulating data of %s (%d data, %d sources) on %d octree tile(s)",
            case.name,
            survey.n_data,
            survey.n_sources,
            len(tiles),
        )
        clean = predict_on_tiles(tiles, survey.n_data, case.model)
        if observed is None:
            survey = survey.with_data(*_noisy(clean, config))
        else:
            survey = survey.with_data(observed.dobs, observed.uncertainty)
    notes = {
        "mesh_kind": "octree",
        "mesh_cells": int(site.mesh.n_cells),
        "finest_cell": site.finest,
        "model_grid_cells": [int(n) for n in site.grid.shape_cells],
        "max_electrode_move": float(site.moved.max()),
        **({} if observed_notes is None else {"observed": observed_notes}),
    }
    return problem_from_survey(
        case.name,
        site.grid,
        survey,
        tiles=tiles,
        true_model=true_model,
        clean_data=clean,
        core_mask=site.grid_core_mask,
        active=site.grid_active,
        inactive_value=AIR_LOG_CONDUCTIVITY,
        info=ProblemInfo(notes=notes),
    )
