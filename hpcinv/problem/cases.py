"""Built-in synthetic cases: the five of the DIP-Inv paper, a 3D block survey, and two tiny
cases (a line and a 3D block) that run an iteration in milliseconds.

Each case gives a simulation mesh, a survey (geometry only; data are simulated from the true
model by the problem builder) and the true model on the model grid, ln(S/m).

Paper cases (Xu & Heagy 2024): the mesh ``TensorMesh([[(5,7,-1.5),(5,200),(5,7,1.5)],
[(5,7,-1.5),(5,25)]], x0="CN")`` (6,848 cells), one dipole-dipole line with electrodes every
25 m from -350 to 350 m and up to 24 receivers per source (26 sources, 348 data), background
0.01 S/m and targets 0.1 S/m.

``block-3d``: four parallel dipole-dipole lines (y = -75, -25, 25, 75 m; electrodes every
25 m from -375 to 375 m; up to 10 receivers per source: 112 sources, 940 data) over a
conductive (0.1 S/m) slab 50 m thick dipping 45 degrees, from 40 to 180 m depth, under a
resistive (0.002 S/m) cover 25 m thick, in a 0.01 S/m background. TensorMesh: 12.5 m core
cells over x in [-400, 400], y in [-125, 125], z in [-200, 0], eight padding cells growing
by 1.5 (about 920 m of padding per side): 80 x 36 x 24 = 69,120 cells, 74,925 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh

from hpcinv.config import CASE_NAMES
from hpcinv.errors import ConfigError
from hpcinv.mesh import padded_tensor_mesh
from hpcinv.survey import Survey, line_survey, merge_surveys

BACKGROUND = np.log(0.01)
TARGET = np.log(0.1)


@dataclass(frozen=True, eq=False)
class Case:
    """mesh: the simulation mesh, also the model grid; true_model: (n_cells,) ln(S/m);
    core_mask: (n_cells,) bool, the cells scored by the MAE (the paper: |x| <= 500 m,
    z >= -125 m, 5,000 cells)."""

    name: str
    mesh: TensorMesh
    survey: Survey
    true_model: np.ndarray
    description: str
    core_mask: np.ndarray


def paper_mesh() -> TensorMesh:
    """The DIP-Inv paper's 2D mesh (6,848 cells, x centred, top at z = 0)."""
    return TensorMesh([[(5, 7, -1.5), (5, 200), (5, 7, 1.5)], [(5, 7, -1.5), (5, 25)]], origin="CN")


def paper_survey() -> Survey:
    return line_survey("dipole-dipole", -350.0, 350.0, 25.0, 24, name="paper line")


def _paper_model(mesh: TensorMesh, case: str) -> np.ndarray:
    x, z = mesh.cell_centers[:, 0], mesh.cell_centers[:, 1]
    m = np.full(mesh.n_cells, BACKGROUND)
    if case.startswith("paper-1"):
        slope = {"paper-1.1": 1.0, "paper-1.2": 0.7, "paper-1.3": 1.2}[case]
        layer = z >= -15.0
        m[layer] = np.log(0.02)
        dike = (~layer) & (slope * x + 100.0 <= z) & (z <= slope * x + 125.0)
        m[dike] = TARGET
    elif case == "paper-2.1":
        disc = (x + 30.0) ** 2 + (z + 50.0) ** 2 <= 25.0**2
        dike = (
            (2 * (x - 50.0) <= z)
            & (z <= 2 * (x - 30.0))
            & (x >= -120.0)
            & (x <= 70.0)
            & (z >= -150.0)
            & (z <= 0.0)
        )
        m[disc | dike] = TARGET
    elif case == "paper-2.2":
        disc1 = (x + 30.0) ** 2 + (z + 40.0) ** 2 <= 20.0**2
        disc2 = (x - 30.0) ** 2 + (z + 60.0) ** 2 <= 20.0**2
        m[disc1 | disc2] = TARGET
    return m


def block_3d_mesh() -> TensorMesh:
    return padded_tensor_mesh(
        (12.5, 12.5, 12.5), (-400.0, -125.0, -200.0), (400.0, 125.0, 0.0), n_pad=8, pad_factor=1.5
    )


def block_3d_survey() -> Survey:
    lines = [
        line_survey("dipole-dipole", -375.0, 375.0, 25.0, 10, y=y, name=f"y={y:g}")
        for y in (-75.0, -25.0, 25.0, 75.0)
    ]
    return merge_surveys(lines, name="block-3d survey")


def block_3d_model(mesh: TensorMesh) -> np.ndarray:
    x, y, z = mesh.cell_centers.T
    m = np.full(mesh.n_cells, BACKGROUND)
    m[z >= -25.0] = np.log(0.002)
    # a 50 m thick slab dipping 45 degrees towards +x, from 40 m to 180 m depth
    # |z + x + 60| <= 35 is a band 2 * 35 / sqrt(2) = 49.5 m thick, perpendicular to the dip
    slab = (np.abs(z + x + 60.0) <= 35.0) & (z <= -40.0) & (z >= -180.0) & (np.abs(y) <= 100.0)
    m[slab] = TARGET
    return m


def tiny_2d_case() -> Case:
    """A 24 x 10-cell line with 7 electrodes: runs an iteration in milliseconds (for trying
    the tool and for tests that restart runs many times)."""
    mesh = TensorMesh(
        [[(10.0, 4, -1.3), (10.0, 16), (10.0, 4, 1.3)], [(10.0, 4, -1.3), (10.0, 6)]], origin="CN"
    )
    x, z = mesh.cell_centers.T
    m = np.full(mesh.n_cells, BACKGROUND)
    m[(np.abs(x) < 20) & (z < -10) & (z > -40)] = TARGET
    survey = line_survey("dipole-dipole", -60.0, 60.0, 20.0, 3, name="tiny line")
    return Case(
        "tiny-2d",
        mesh,
        survey,
        m,
        "a small conductive block under a short line",
        (np.abs(x) <= 80.0) & (z >= -60.0),
    )


def tiny_3d_case() -> Case:
    """A 20 x 14 x 8-cell block (2,240 cells) under two dipole-dipole lines, a pole-dipole
    and a pole-pole line (every source and receiver kind): a 3D iteration in a fraction of a
    second, for trying 3D and for tests that compare runs."""
    mesh = padded_tensor_mesh(
        (25.0, 25.0, 25.0), (-150.0, -75.0, -100.0), (150.0, 75.0, 0.0), n_pad=4, pad_factor=1.5
    )
    lines = [line_survey("dipole-dipole", -125.0, 125.0, 50.0, 3, y=y) for y in (-25.0, 25.0)]
    lines.append(line_survey("pole-dipole", -125.0, 125.0, 50.0, 2, y=50.0))
    lines.append(line_survey("pole-pole", -100.0, 100.0, 50.0, 2, y=-50.0))
    x, y, z = mesh.cell_centers.T
    m = np.full(mesh.n_cells, BACKGROUND)
    m[(np.abs(x) < 50) & (np.abs(y) < 50) & (z < -25) & (z > -75)] = TARGET
    return Case(
        "tiny-3d",
        mesh,
        merge_surveys(lines, name="tiny-3d survey"),
        m,
        "a small conductive block under four short lines (3D)",
        (np.abs(x) <= 150.0) & (np.abs(y) <= 75.0) & (z >= -100.0),
    )


def build_case(name: str) -> Case:
    """The built-in case ``name`` (one of ``hpcinv.config.CASE_NAMES``)."""
    if name not in CASE_NAMES:
        raise ConfigError(f"unknown case {name!r}; built-in cases: {', '.join(CASE_NAMES)}")
    if name == "tiny-2d":
        return tiny_2d_case()
    if name == "tiny-3d":
        return tiny_3d_case()
    if name.startswith("paper-"):
        mesh = paper_mesh()
        x, z = mesh.cell_centers.T
        return Case(
            name,
            mesh,
            paper_survey(),
            _paper_model(mesh, name),
            f"DIP-Inv paper case {name[6:]}",
            (np.abs(x) <= 500.0) & (z >= -125.0),
        )
    mesh = block_3d_mesh()
    x, y, z = mesh.cell_centers.T
    return Case(
        name,
        mesh,
        block_3d_survey(),
        block_3d_model(mesh),
        "3D: conductive slab dipping 45 degrees under a resistive cover",
        (np.abs(x) <= 400.0) & (np.abs(y) <= 125.0) & (z >= -200.0),
    )
