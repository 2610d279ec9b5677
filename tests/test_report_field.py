"""Figures of field-data runs: file coordinates, air left blank, geology over a 2D section,
sections along the electrode lines in 3D."""

import numpy as np
import pytest

from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.report import figures
from hpcinv.report.rundir import RunDirectory, RunResult
from hpcinv.survey import line_survey, merge_surveys


def _summary(n=5):
    return {
        "history": {
            "chi": list(np.linspace(5, 1, n)),
            "phi_d": list(np.linspace(50, 10, n)),
            "beta": [0.0] * n,
            "seconds": [1.0] * n,
        }
    }


def _result(made, survey, origin, **extra):
    mesh = made.mesh
    rng = np.random.default_rng(0)
    arrays = {
        "model": np.log(0.01) + 0.5 * rng.standard_normal(mesh.n_cells),
        "dobs": np.ones(survey.n_data),
        "dpred": np.ones(survey.n_data) * 1.01,
        "uncertainty": np.full(survey.n_data, 0.05),
        "electrodes": made.electrodes,
        "abmn": survey.abmn,
        "mesh_origin": mesh.origin,
        "origin": np.asarray(origin),
        "active": made.active,
        "cell_centers": mesh.cell_centers,
    }
    for i, h in enumerate(mesh.h):
        arrays[f"mesh_h{i}"] = h
    arrays.update(extra)
    return arrays


def test_2d_section_with_air_and_geology_in_file_coordinates(tmp_path, monkeypatch):
    survey = line_survey("dipole-dipole", 0.0, 300.0, 20.0, 4)
    electrodes = survey.electrodes.copy()
    electrodes[:, 1] = 0.1 * electrodes[:, 0]
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=10.0, padding_distance=300.0)
    overlay = np.array(
        [[50.0, 0.0], [150.0, -80.0], [np.nan, np.nan], [200.0, 5.0], [250.0, -40.0]]
    )
    run = RunDirectory(tmp_path)
    run.write_result(_result(made, survey, [26000.0, 100.0], overlay=overlay))
    run.write_summary(_summary())
    drawn = {}
    real = figures._models

    def spy(run_, result, mesh):
        drawn["x"] = (mesh.nodes_x.min(), mesh.nodes_x.max())
        return real(run_, result, mesh)

    monkeypatch.setattr(figures, "_models", spy)
    files = figures.draw_report(run)
    assert [f.name for f in files] == ["model.png", "convergence.png", "data.png"]
    assert (tmp_path / "figures" / "model.png").stat().st_size > 10_000
    # the mesh is drawn in the file's coordinates: local + origin
    assert drawn["x"][0] == pytest.approx(made.mesh.nodes_x.min() + 26000.0)
    blank = figures._shown(RunResult({"active": made.active}), np.zeros(made.mesh.n_cells))
    assert np.isnan(blank[~made.active]).all() and not np.isnan(blank[made.active]).any()


def test_3d_field_model_sections_follow_the_lines(tmp_path):
    lines = [line_survey("dipole-dipole", 0.0, 300.0, 50.0, 3, y=y) for y in (0.0, 150.0)]
    lines.append(line_survey("dipole-dipole", 0.0, 150.0, 50.0, 2, y=None))
    cross = lines.pop()
    cross_3d = np.column_stack(
        [np.full(len(cross.electrodes), 100.0), cross.electrodes[:, 0], cross.electrodes[:, 1]]
    )
    from hpcinv.survey import Survey

    survey = merge_surveys(lines + [Survey(cross_3d, cross.abmn)])
    made = mesh_from_survey(survey.electrodes, survey.abmn, cell_size=25.0, padding_distance=300.0)
    assert figures._line_positions(survey.electrodes[:, 1], 2) == [0.0, 150.0]
    assert figures._line_positions(survey.electrodes[:, 0], 2)[0] == 100.0
    run = RunDirectory(tmp_path)
    spread = np.abs(np.random.default_rng(1).standard_normal(made.mesh.n_cells))
    run.write_result(_result(made, survey, [46000.0, 26000.0, 0.0], ensemble_std=spread))
    run.write_summary(_summary())
    files = figures.draw_report(run)
    assert (tmp_path / "figures" / "model.png").stat().st_size > 10_000
    assert tmp_path / "figures" / "spread.png" in files  # an ensemble's std beside the model
    assert (tmp_path / "figures" / "spread.png").stat().st_size > 10_000


def test_low_coverage_cells_are_veiled(tmp_path, monkeypatch):
    survey = line_survey("dipole-dipole", 0.0, 300.0, 50.0, 3, y=0.0)
    made = mesh_from_survey(survey.electrodes, survey.abmn, cell_size=25.0, padding_distance=300.0)
    depth = made.mesh.cell_centers[:, -1].max() - made.mesh.cell_centers[:, -1]
    coverage = np.exp(-depth / 20.0)  # falls below 1% of the largest at ~92 m
    run = RunDirectory(tmp_path)
    run.write_result(_result(made, survey, [0.0, 0.0, 0.0], coverage=coverage))
    run.write_summary(_summary())
    low = figures.low_coverage(run.read_result())
    assert np.array_equal(low, (coverage < 0.01) & made.active)
    assert figures.low_coverage(RunResult({})) is None
    veiled = []
    real = figures._veil
    monkeypatch.setattr(figures, "_veil", lambda *a, **k: (veiled.append(a[1]), real(*a, **k)))
    figures.draw_report(run)
    assert veiled and all(np.array_equal(v, low) for v in veiled)


def test_importing_the_figures_leaves_matplotlibs_backend_alone():
    """A notebook's inline backend must survive ``import hpcinv.report.figures``."""
    import os
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import hpcinv.report.figures; "
        "print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "svg"


def test_pseudosections_show_apparent_resistivity_of_the_ground(tiny_problem):
    """The 2.5D data of a uniform 100 ohm m ground read as ~100 ohm m everywhere."""
    from hpcinv.problem import simulate

    problem = tiny_problem
    d = simulate(problem.mesh, problem.survey, np.full(problem.mesh.n_cells, np.log(0.01)))
    arrays = {"electrodes": problem.survey.electrodes, "abmn": problem.survey.abmn}
    rho = figures.apparent_resistivity(arrays, d)
    assert np.isfinite(rho).all()
    # tiny-2d's coarse mesh is off by up to 8.5% at the shortest arrays
    assert np.abs(rho / 100.0 - 1.0).max() < 0.1 and np.median(np.abs(rho / 100.0 - 1)) < 0.05
    assert np.isnan(figures.apparent_resistivity(arrays, -d)).all()  # not a resistivity
