"""Problems of the built-in synthetic cases: the case's mesh, survey and true model, and data
simulated from it with Gaussian noise of a fixed seed."""

from __future__ import annotations

import logging

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError
from hpcinv.problem.cases import build_case
from hpcinv.problem.problem import Problem, local_mesh_settings, problem_from_survey, simulate

log = logging.getLogger(__name__)


def synthetic_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """The problem of ``config.problem.case`` (see ``build_problem``)."""
    pc, physics = config.problem, config.physics
    if pc.case is None:  # pragma: no cover - the config validates case xor data
        raise ConfigError("problem.case is not set")
    if pc.noise_percent == 0 and pc.noise_floor == 0:
        raise ConfigError(
            "problem.noise_percent and problem.noise_floor are both 0: the data "
            "would have zero uncertainty; set either > 0"
        )
    case = build_case(pc.case)
    survey, clean = case.survey, None
    if with_data:
        log.info(
            "simulating data of %s (%d data, %d sources)",
            case.name,
            case.survey.n_data,
            case.survey.n_sources,
        )
        clean = simulate(
            case.mesh,
            case.survey,
            case.true_model,
            solver=physics.solver,
            nky=physics.nky,
            blas_threads=physics.threads,
        )
        rng = np.random.default_rng(pc.noise_seed)
        rel = pc.noise_percent / 100.0
        dobs = clean + rel * np.abs(clean) * rng.standard_normal(clean.size)
        # the paper's weighting: W = 1 / (0.05 |dobs|), plus an optional absolute floor
        survey = survey.with_data(dobs, rel * np.abs(dobs) + pc.noise_floor)
    return problem_from_survey(
        case.name,
        case.mesh,
        survey,
        n_tiles=physics.n_tiles,
        solver=physics.solver,
        nky=physics.nky,
        split=physics.split,
        local_meshes=local_mesh_settings(config, case.mesh.dim),
        blas_threads=physics.threads,
        true_model=case.true_model,
        clean_data=clean,
        core_mask=case.core_mask,
    )
