"""Shared fixtures: the paper's 2.5D problem and a small, fast 3D problem."""

from __future__ import annotations

import numpy as np
import pytest

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.mesh import padded_tensor_mesh
from hpcinv.problem import problem_from_survey, simulate
from hpcinv.survey import REMOTE, Survey, line_survey, merge_surveys


def paper_config(n_tiles=1, solver="auto", case="paper-1.1", split="auto"):
    return config_from_dict(
        {
            "problem": {"case": case},
            "physics": {"n_tiles": n_tiles, "solver": solver, "split": split},
        }
    )


@pytest.fixture(scope="session")
def paper_problem():
    return hpcinv.build_problem(paper_config())


def small_3d_mesh():
    """25 m cells, 4 padding cells: 20 x 14 x 8 = 2,240 cells (solves in milliseconds)."""
    return padded_tensor_mesh(
        (25.0, 25.0, 25.0), (-150.0, -75.0, -100.0), (150.0, 75.0, 0.0), n_pad=4, pad_factor=1.5
    )


def small_3d_survey():
    """Two dipole-dipole lines plus pole-dipole and pole-pole rows (all source kinds)."""
    lines = [line_survey("dipole-dipole", -125.0, 125.0, 50.0, 3, y=y) for y in (-25.0, 25.0)]
    lines.append(line_survey("pole-dipole", -125.0, 125.0, 50.0, 2, y=50.0))
    lines.append(line_survey("pole-pole", -100.0, 100.0, 50.0, 2, y=-50.0))
    return merge_surveys(lines, name="small 3D survey")


def small_3d_true_model(mesh):
    x, y, z = mesh.cell_centers.T
    m = np.full(mesh.n_cells, np.log(0.01))
    m[(np.abs(x) < 50) & (np.abs(y) < 50) & (z < -25) & (z > -75)] = np.log(0.1)
    return m


def small_3d_problem(n_tiles=1, solver="mumps"):
    mesh = small_3d_mesh()
    survey = small_3d_survey()
    m_true = small_3d_true_model(mesh)
    clean = simulate(mesh, survey, m_true, solver=solver)
    rng = np.random.default_rng(7)
    dobs = clean * (1 + 0.05 * rng.standard_normal(clean.size))
    return problem_from_survey(
        "small-3d",
        mesh,
        survey.with_data(dobs, 0.05 * np.abs(dobs)),
        n_tiles=n_tiles,
        solver=solver,
        true_model=m_true,
    )


@pytest.fixture(scope="session")
def small_problem_3d():
    return small_3d_problem()


def random_model(problem, seed, scale=0.5):
    """A heterogeneous model around 0.01 S/m (seeded) so every cell's sensitivity is exercised."""
    rng = np.random.default_rng(seed)
    return np.log(0.01) + scale * rng.standard_normal(problem.model_grid.n_cells)


def has_pole_rows(survey: Survey) -> bool:
    return bool(np.any(survey.abmn[:, [1, 3]] == REMOTE))


def tiny_2d_problem(n_tiles=1):
    """A 24 x 10-cell line (240 cells) with 7 electrodes: gradchecks in a second."""
    from discretize import TensorMesh

    mesh = TensorMesh(
        [[(10.0, 4, -1.3), (10.0, 16), (10.0, 4, 1.3)], [(10.0, 4, -1.3), (10.0, 6)]], origin="CN"
    )
    survey = line_survey("dipole-dipole", -60.0, 60.0, 20.0, 3)
    x, z = mesh.cell_centers.T
    m_true = np.full(mesh.n_cells, np.log(0.01))
    m_true[(np.abs(x) < 20) & (z < -10) & (z > -40)] = np.log(0.1)
    clean = simulate(mesh, survey, m_true)
    rng = np.random.default_rng(3)
    dobs = clean * (1 + 0.05 * rng.standard_normal(clean.size))
    return problem_from_survey(
        "tiny-2d",
        mesh,
        survey.with_data(dobs, 0.05 * np.abs(dobs)),
        n_tiles=n_tiles,
        true_model=m_true,
    )


@pytest.fixture(scope="session")
def tiny_problem():
    return tiny_2d_problem()
