"""Small problems and models the tests build (imported by tests and by conftest's fixtures;
a test module imports these, never conftest)."""

from __future__ import annotations

import numpy as np

from hpcinv.config import PhysicsConfig, config_from_dict
from hpcinv.problem import problem_from_survey, simulate
from hpcinv.survey import REMOTE, Survey


def paper_config(n_tiles=1, solver="auto", case="paper-1.1", split="auto"):
    return config_from_dict(
        {
            "problem": {"case": case},
            "physics": {"n_tiles": n_tiles, "solver": solver, "split": split},
        }
    )


def _with_noisy_data(name, case, seed, **tiles):
    """The built-in ``case``'s mesh, survey and true model, with its data simulated and 5%
    noise of ``seed`` (other noise than the case's own: these fixtures predate it)."""
    from hpcinv.problem.cases import build_case

    c = build_case(case)
    clean = simulate(c.mesh, c.survey, c.true_model, solver=tiles.get("solver", "auto"))
    dobs = clean * (1 + 0.05 * np.random.default_rng(seed).standard_normal(clean.size))
    return problem_from_survey(
        name,
        c.mesh,
        c.survey.with_data(dobs, 0.05 * np.abs(dobs)),
        PhysicsConfig(**tiles),
        true_model=c.true_model,
    )


def small_3d_problem(n_tiles=1, solver="mumps"):
    """The tiny-3d case (25 m cells, 20 x 14 x 8 = 2,240 cells; two dipole-dipole lines plus
    pole-dipole and pole-pole rows: every source kind), solves in milliseconds."""
    return _with_noisy_data("small-3d", "tiny-3d", 7, n_tiles=n_tiles, solver=solver)


def random_model(problem, seed, scale=0.5):
    """A heterogeneous model around 0.01 S/m (seeded) so every cell's sensitivity is exercised."""
    rng = np.random.default_rng(seed)
    return np.log(0.01) + scale * rng.standard_normal(problem.model_grid.n_cells)


def has_pole_rows(survey: Survey) -> bool:
    return bool(np.any(survey.abmn[:, [1, 3]] == REMOTE))


def tiny_2d_problem(n_tiles=1, split="auto"):
    """The tiny-2d line (240 cells, 7 electrodes, 9 data): gradchecks in a second."""
    return _with_noisy_data("tiny-2d", "tiny-2d", 3, n_tiles=n_tiles, split=split)
