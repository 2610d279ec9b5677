"""Figures of field-data runs: file coordinates, air left blank, geology over a 2D section,
sections along the electrode lines in 3D. The figures are checked as drawn (the Figure objects
that are saved), not as files: what they show, not that they were written."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

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


@pytest.fixture
def drawn(monkeypatch):
    """{path: Figure} of every figure saved while the test runs, as it was when saved."""
    figs = {}
    save = Figure.savefig

    def record(self, fname, *args, **kwargs):
        figs[Path(fname)] = self
        return save(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figs


def _axes(fig, title):
    """The one axes of ``fig`` titled ``title``."""
    found = [ax for ax in fig.axes if ax.get_title() == title]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def _image(ax):
    """The model drawn on ``ax``: its first QuadMesh (a coverage veil would come after it)."""
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def _brackets(clim, values):
    """A colour scale for ``values``: spans their bulk (5th to 95th percentile), within them."""
    lo, hi = np.percentile(values, [5, 95])
    return values.min() <= clim[0] <= lo and hi <= clim[1] <= values.max()


def _core(mesh, axis):
    """(low, high) of the mesh's core (its smallest cells) along ``axis``, local coordinates."""
    h = mesh.h[axis]
    centres = mesh.cell_centers_x if axis == 0 else mesh.cell_centers_y
    core = centres[h == h.min()]
    return core.min() - 0.5 * h.min(), core.max() + 0.5 * h.min()


def test_2d_section_with_air_and_geology_in_file_coordinates(tmp_path, monkeypatch, drawn):
    survey = line_survey("dipole-dipole", 0.0, 300.0, 20.0, 4)
    electrodes = survey.electrodes.copy()
    electrodes[:, 1] = 0.1 * electrodes[:, 0]
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=10.0, padding_distance=300.0)
    overlay = np.array(
        [[50.0, 0.0], [150.0, -80.0], [np.nan, np.nan], [200.0, 5.0], [250.0, -40.0]]
    )
    origin = np.array([26000.0, 100.0])
    result = _result(made, survey, origin, overlay=overlay)
    run = RunDirectory(tmp_path)
    run.write_result(result)
    run.write_summary(_summary())
    seen = {}
    real = figures._models

    def spy(run_, result, mesh):
        seen["x"] = (mesh.nodes_x.min(), mesh.nodes_x.max())
        return real(run_, result, mesh)

    monkeypatch.setattr(figures, "_models", spy)
    files = figures.draw_report(run)
    assert [f.name for f in files] == ["model.png", "convergence.png", "data.png"]
    assert set(drawn) == set(files) and all(f.exists() for f in files)
    # the mesh is drawn in the file's coordinates: local + origin
    assert seen["x"][0] == pytest.approx(made.mesh.nodes_x.min() + 26000.0)
    blank = figures._shown(RunResult({"active": made.active}), np.zeros(made.mesh.n_cells))
    assert np.isnan(blank[~made.active]).all() and not np.isnan(blank[made.active]).any()

    fig = drawn[tmp_path / "figures" / "model.png"]
    assert "true model" not in [a.get_title() for a in fig.axes]  # field data: none known
    ax = _axes(fig, "recovered model")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "z (m)")
    # the axes are in the file's coordinates: the whole core in view, nothing beyond the mesh
    mesh, (x0, x1), (z0, z1) = made.mesh, ax.get_xlim(), ax.get_ylim()
    core_x, core_z = np.add(_core(mesh, 0), origin[0]), np.add(_core(mesh, 1), origin[1])
    assert mesh.nodes_x.min() + origin[0] <= x0 <= core_x[0] and core_x[1] <= x1
    assert x1 <= mesh.nodes_x.max() + origin[0]
    assert mesh.nodes_y.min() + origin[1] <= z0 <= core_z[0]
    assert z1 >= made.electrodes[:, 1].max() + origin[1]  # the ground and electrodes in view
    # electrodes and the interpreted geology, moved to the file's coordinates as the model
    markers = [line for line in ax.lines if line.get_marker() == "v"]
    assert len(markers) == 1
    np.testing.assert_allclose(markers[0].get_xydata(), made.electrodes + origin)
    (geology,) = [line for line in ax.lines if line.get_label() == "interpreted geology"]
    np.testing.assert_allclose(geology.get_xydata(), overlay + origin, equal_nan=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["interpreted geology"]
    # the model itself: air cells blank, ground cells their values, one scale over the bulk
    image = _image(ax)
    values = image.get_array()
    assert np.array_equal(np.ma.getmaskarray(values).ravel(), ~made.active)
    ground = result["model"][made.active]
    np.testing.assert_allclose(values.compressed(), ground)
    assert _brackets(image.get_clim(), ground), image.get_clim()
    assert image.colorbar.ax.get_ylabel() == "ln conductivity (S/m)"

    # the pseudosections too are in the file's coordinates, over the electrodes
    data = drawn[tmp_path / "figures" / "data.png"]
    x_el = made.electrodes[:, 0] + origin[0]
    for title in (
        "observed apparent resistivity, log10 ohm m",
        "predicted apparent resistivity, log10 ohm m",
        "normalised residual (predicted - observed) / sd",
    ):
        left, right = _axes(data, title).get_xlim()
        assert x_el.min() < left < right < x_el.max()


def test_3d_field_model_sections_follow_the_lines(tmp_path, drawn):
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
    origin = np.array([46000.0, 26000.0, 0.0])
    result = _result(made, survey, origin, ensemble_std=spread)
    run.write_result(result)
    run.write_summary(_summary())
    files = figures.draw_report(run)
    assert tmp_path / "figures" / "spread.png" in files  # an ensemble's std beside the model
    assert set(drawn) == set(files) and all(f.exists() for f in files)
    el = made.electrodes + origin
    ground = result["model"][made.active]

    fig = drawn[tmp_path / "figures" / "model.png"]
    titles = [ax.get_title() for ax in fig.axes]
    slices = [ax for ax in fig.axes if ax.get_title().startswith("depth slice z = ")]
    assert len(slices) == 3
    for ax in slices:  # over the survey, in the file's coordinates, with every electrode
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert x0 < el[:, 0].min() and el[:, 0].max() < x1
        assert y0 < el[:, 1].min() and el[:, 1].max() < y1
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "y (m)")
        np.testing.assert_allclose(ax.lines[0].get_xydata(), el[:, :2])
    # one section along each electrode line: y = 0 and 150 m, and the cross line x = 100 m
    sections = [t for t in titles if t.startswith("section along the line ")]
    assert sorted(sections) == [
        "section along the line x = 46100 m",
        "section along the line y = 26000 m",
        "section along the line y = 26150 m",
    ]
    for y in (0.0, 150.0):  # an x-z section showing that line's electrodes
        ax = _axes(fig, f"section along the line y = {y + origin[1]:.0f} m")
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "z (m)")
        on = made.electrodes[:, 1] == y
        (markers,) = ax.lines
        np.testing.assert_allclose(markers.get_xydata(), el[on][:, [0, 2]])
        x0, x1 = ax.get_xlim()
        assert x0 < el[on, 0].min() and el[on, 0].max() < x1
    # every panel on the one colour scale, spanning the model's values, which it shows
    images = [_image(ax) for ax in fig.axes if ax.get_title()]
    assert len(images) == 6 and len({im.get_clim() for im in images}) == 1
    assert _brackets(images[0].get_clim(), ground), images[0].get_clim()
    assert all(np.isin(im.get_array().compressed(), ground).all() for im in images)

    spread_fig = drawn[tmp_path / "figures" / "spread.png"]
    (mean_ax,) = [ax for ax in spread_fig.axes if ax.get_title().startswith("ensemble mean")]
    (std_ax,) = [ax for ax in spread_fig.axes if ax.get_title().startswith("ensemble standard")]
    assert np.isin(_image(mean_ax).get_array().compressed(), ground).all()
    std = _image(std_ax)
    shown = spread[made.active]
    assert np.isin(std.get_array().compressed(), shown).all()  # the spread, not the model
    # a standard deviation: the scale starts at ~0 and reaches up towards the largest spread
    low, high = std.get_clim()
    assert 0.0 <= low < 0.05 * shown.max()
    assert np.percentile(shown, 95) <= high <= shown.max()
    assert std.colorbar.ax.get_ylabel() == "relative spread (std / mean of S/m)"
    x0, x1 = std_ax.get_xlim()
    assert x0 < el[:, 0].min() and el[:, 0].max() < x1  # file coordinates, as the model


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
