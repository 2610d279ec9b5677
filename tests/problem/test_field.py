"""Field data through ``build_problem``: a file written from a synthetic survey is read,
meshed, converted and inverted; coordinates come back as in the file."""

import json
import math

import numpy as np
import pytest

import hpcinv
from hpcinv.config import load_config
from hpcinv.errors import ConfigError
from hpcinv.inversion import Stepper
from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.problem import simulate
from hpcinv.readers import write_survey
from hpcinv.survey import Survey, line_survey

#: file coordinates far from zero: the reader moves them to a local origin
EASTING = 500_000.0


def _write_config(tmp_path, data_name, extra=""):
    cfg = tmp_path / "run" / "field.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"""
[problem]
data = "../data/{data_name}"
[mesh]
cell_size = 10.0
padding_distance = 300.0
[network]
channels = [8, 4]
dropout = 0.0
[inversion]
learning_rate = 1e-2
beta_schedule = "constant"
beta = 0.0
{extra}
""")
    return cfg


def _line_data(tmp_path, slope=0.0, data_type="resistance"):
    """A dipole-dipole line (20 m spacing) over a conductive block, written to CSV in file
    coordinates; returns (path, local survey with the clean data)."""
    survey = line_survey("dipole-dipole", 0.0, 200.0, 20.0, 4)
    electrodes = survey.electrodes.copy()
    electrodes[:, 1] = slope * electrodes[:, 0]
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=10.0, padding_distance=300.0)
    local = Survey(made.electrodes, survey.abmn)
    x, z = made.mesh.cell_centers.T
    m = np.where(made.active, np.log(0.01), np.log(1e-8))
    m[made.active & (np.abs(x - 100) < 30) & (z < -20) & (z > -50)] = np.log(0.1)
    clean = simulate(made.mesh, local, m)
    path = tmp_path / "data" / "line.csv"
    path.parent.mkdir(exist_ok=True)
    file_survey = Survey(made.electrodes + [EASTING, 0.0], survey.abmn, clean, 0.05 * np.abs(clean))
    write_survey(file_survey, path, "csv")
    return path, local.with_data(clean, 0.05 * np.abs(clean))


def test_round_trip_reads_meshes_and_inverts(tmp_path):
    path, truth = _line_data(tmp_path)
    config = load_config(_write_config(tmp_path, path.name))
    problem = hpcinv.build_problem(config)
    assert problem.dim == 2 and problem.n_data == truth.n_data
    assert problem.true_model is None and problem.active is None  # flat: no air
    # local electrodes plus the origin are the file's coordinates
    assert np.allclose(
        problem.survey.electrodes + problem.info.origin, truth.electrodes + [EASTING, 0.0]
    )
    assert np.allclose(problem.dobs, truth.dobs, rtol=1e-6)
    assert np.allclose(problem.uncertainty, truth.uncertainty, rtol=1e-6)
    assert problem.info.notes["uncertainty"]["source"] == "file"
    assert problem.core_mask.any() and problem.mesh.h[0].min() == 10.0
    run = Stepper.build(config, problem, hpcinv.SerialExecutor(problem))
    chis = [run.step().records[0].chi for _ in range(6)]
    assert all(math.isfinite(c) for c in chis) and chis[-1] < chis[0]


def test_uncertainty_from_config_when_the_file_is_ignored(tmp_path):
    path, truth = _line_data(tmp_path)
    config = load_config(_write_config(tmp_path, path.name))
    raw = config.raw
    raw["problem"].update(
        use_file_uncertainty=False, uncertainty_percent=3.0, uncertainty_floor=1e-4
    )
    from hpcinv.config import config_from_dict

    config = config_from_dict(raw, path=config.path)
    problem = hpcinv.build_problem(config)
    assert np.allclose(problem.uncertainty, 0.03 * np.abs(truth.dobs) + 1e-4, rtol=1e-6)


def test_apparent_resistivity_over_topography_uses_numeric_factors(tmp_path):
    # a uniform 100 ohm m ground seen through numeric geometric factors: every apparent
    # resistivity is 100, and the data in V/A are those of 0.01 S/m under the slope
    path, truth = _line_data(tmp_path, slope=0.2)
    survey = line_survey("dipole-dipole", 0.0, 200.0, 20.0, 4)
    rho_a = np.full(survey.n_data, 100.0)
    electrodes = truth.electrodes + [EASTING, 0.0]
    write_survey(
        Survey(electrodes, survey.abmn, rho_a, 0.05 * rho_a),
        path,
        "csv",
        data_type="apparent_resistivity",
    )
    problem = hpcinv.build_problem(load_config(_write_config(tmp_path, path.name)))
    assert problem.active is not None and (~problem.active).any()
    uniform = np.where(problem.active, np.log(0.01), problem.inactive_value)
    d = simulate(problem.mesh, problem.survey, uniform)
    # not exactly: the air (1e-8 S/m) is 1e-8 of the 1 S/m ground the factors were computed
    # with but 1e-6 of 0.01 S/m, which leaks into the data at ~1e-6 (measured 1.1e-6)
    assert np.allclose(problem.dobs, d, rtol=1e-5)
    assert not np.allclose(problem.dobs, 1.2 * d, rtol=1e-5)
    assert problem.info.notes["halfspace_conductivity"] == pytest.approx(0.01, rel=1e-5)


def test_halfspace_reference_is_the_best_uniform_halfspace(tmp_path):
    from hpcinv.config import config_from_dict
    from hpcinv.driver.resolve import resolve_config

    path, _ = _line_data(tmp_path)
    config = load_config(_write_config(tmp_path, path.name, 'reference_model = "halfspace"'))
    problem = hpcinv.build_problem(config)
    resolved = resolve_config(config, problem).config
    sigma = problem.info.notes["halfspace_conductivity"]
    assert resolved.inversion.reference_value == pytest.approx(math.log(sigma), rel=1e-12)
    assert resolved.raw == config.raw  # the run file is recorded as written
    result = hpcinv.run(config, tmp_path / "out", iterations=2)
    assert result.summary["reference_model"] == resolved.inversion.reference_value
    # recorded as what the run file left to the context
    assert (
        result.summary["resolved"]["inversion.reference_model"] == result.summary["reference_model"]
    )
    with pytest.raises(ConfigError, match="resolve"):
        config.inversion.reference_value  # noqa: B018 - unresolved: refused, not NaN
    synthetic = config_from_dict(
        {"problem": {"case": "tiny-2d"}, "inversion": {"reference_model": "halfspace"}}
    )
    with pytest.raises(ConfigError, match="needs field data"):
        resolve_config(synthetic, hpcinv.build_problem(synthetic))
    with pytest.raises(ConfigError, match="'halfspace'"):
        config_from_dict({"problem": {"case": "tiny-2d"}, "inversion": {"reference_model": "flat"}})


def test_pygimli_topography_block_is_the_ground_surface(tmp_path):
    """The same line over a slope: its topography in the pyGIMLi file's own block, or in a
    mesh.topography CSV, gives the same mesh, air cells and data."""
    path, truth = _line_data(tmp_path, slope=0.2)
    xs = np.linspace(-300.0, 500.0, 17)
    surface = np.column_stack([xs + EASTING, 0.2 * xs])  # the file's coordinates
    gimli = tmp_path / "data" / "line.ohm"
    write_survey(
        Survey(truth.electrodes + [EASTING, 0.0], truth.abmn, truth.dobs, truth.uncertainty),
        gimli,
        "pygimli",
    )
    block = [str(len(surface)), "# x y"] + [f"{float(x)!r} {float(z)!r}" for x, z in surface]
    gimli.write_text(gimli.read_text() + "\n".join(block) + "\n")
    read = hpcinv.readers.read_survey(gimli)
    np.testing.assert_allclose(read.topography + read.origin, surface, rtol=1e-12)
    assert any("topography block: 17 points" in note for note in read.notes)
    from_block = hpcinv.build_problem(load_config(_write_config(tmp_path, gimli.name)))
    csv = tmp_path / "run" / "surface.csv"
    np.savetxt(csv, surface, delimiter=",", header="x,z", comments="")
    cfg = _write_config(tmp_path, gimli.name)
    cfg.write_text(cfg.read_text().replace("[mesh]", '[mesh]\ntopography = "surface.csv"'))
    from_csv = hpcinv.build_problem(load_config(cfg))
    assert from_block.active is not None and (~from_block.active).any()  # air above the slope
    np.testing.assert_array_equal(from_block.active, from_csv.active)
    np.testing.assert_allclose(from_block.survey.electrodes, from_csv.survey.electrodes)
    np.testing.assert_allclose(from_block.dobs, from_csv.dobs)


def _with_reciprocals(tmp_path, a=2e-4, b=0.03, corrupt=(5,)):
    """The line of ``_line_data`` measured both ways (A B M N and M N A B) with independent
    noise of standard deviation a + b |R| per reading; the reciprocals of ``corrupt`` x3."""
    _, truth = _line_data(tmp_path)
    rng = np.random.default_rng(7)
    clean = np.concatenate([truth.dobs, truth.dobs])
    noisy = clean + (a + b * np.abs(clean)) * rng.standard_normal(clean.size)
    for row in corrupt:
        noisy[truth.n_data + row] *= 3.0
    abmn = np.concatenate([truth.abmn, truth.abmn[:, [2, 3, 0, 1]]])
    path = tmp_path / "data" / "both.csv"
    write_survey(Survey(truth.electrodes + [EASTING, 0.0], abmn, noisy, None), path, "csv")
    return path, truth


def test_reciprocal_uncertainty_averages_pairs_and_fits_the_error_model(tmp_path, capsys):
    from hpcinv.cli import main

    path, truth = _with_reciprocals(tmp_path)
    cfg = _write_config(tmp_path, path.name)
    cfg.write_text(
        cfg.read_text().replace("[problem]\n", '[problem]\nuncertainty = "reciprocal"\n')
    )
    problem = hpcinv.build_problem(load_config(cfg))
    rec = problem.info.notes["reciprocal"]
    assert rec["pairs"] == truth.n_data and rec["pairs_dropped"] == 1
    assert problem.n_data == truth.n_data - 1  # one datum per kept pair, the bad pair gone
    # per-reading noise a + b|R| recovered within a few tens of percent on ~100 pairs
    assert 0.02 < rec["b"] < 0.04
    # the pair means are closer to the truth than single readings are
    kept = np.delete(truth.dobs, 5)
    assert np.abs(problem.dobs - kept).max() < 4 * (2e-4 + 0.03 * np.abs(kept)).max()
    np.testing.assert_allclose(
        problem.uncertainty, (rec["a"] + rec["b"] * np.abs(problem.dobs)) / np.sqrt(2), rtol=1e-9
    )
    assert main(["data", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reciprocal"]["pairs"] == truth.n_data
    assert summary["reciprocal"]["b"] == pytest.approx(rec["b"])
    (dropped,) = summary["reciprocal"]["pairs_dropped"]
    assert dropped["line"] == 7 and f"line {truth.n_data + 7}" in dropped["reason"]


def test_missing_data_file_is_a_config_error(tmp_path):
    config = load_config(_write_config(tmp_path, "nowhere.dat"))
    with pytest.raises(ConfigError, match="problem.data: no such file .*nowhere.dat"):
        hpcinv.build_problem(config)


def test_overlay_is_read_in_local_coordinates(tmp_path):
    path, _ = _line_data(tmp_path)
    overlay = tmp_path / "run" / "geology.csv"
    overlay.parent.mkdir(exist_ok=True)
    overlay.write_text(
        "#Leapfrog 3D bezier polyline file (v1.2).\n#Point X, Point Y, Point Z\n"
        f"{EASTING + 50}, 0, -10, 0\n{EASTING + 150}, 0, -60, 0\nEnd\n"
        f"{EASTING + 20}, 0, -5, 0\nEnd\n"
    )
    config = load_config(
        _write_config(tmp_path, path.name, extra='[report]\noverlay = "geology.csv"')
    )
    problem = hpcinv.build_problem(config, with_data=False)
    xz = problem.info.overlay + problem.info.origin
    assert np.allclose(
        xz[[0, 1, 3]], [[EASTING + 50, -10], [EASTING + 150, -60], [EASTING + 20, -5]]
    )
    assert np.isnan(xz[2]).all() and np.isnan(xz[4]).all()


def test_correct_data_removes_the_mesh_error_of_a_half_space(tmp_path):
    # analytic data of a uniform 0.01 S/m half-space; on a coarse mesh (10 m cells, 20 m
    # dipoles) the mesh's response differs from them by percents at short offsets; with
    # mesh.correct_data the corrected data are exactly what the mesh gives
    from hpcinv.readers import halfspace_response

    survey = line_survey("dipole-dipole", 0.0, 200.0, 20.0, 4)
    analytic = halfspace_response(survey.electrodes, survey.abmn) / 0.01
    # the formula: a pole-pole pair 20 m apart on 1 S/m gives 1 / (2 pi 20) V/A
    pole = Survey(np.array([[0.0, 0.0], [20.0, 0.0]]), [[0, -1, 1, -1]])
    assert halfspace_response(pole.electrodes, pole.abmn)[0] == pytest.approx(
        1.0 / (2 * np.pi * 20.0)
    )
    path = tmp_path / "data" / "line.csv"
    path.parent.mkdir()
    electrodes = survey.electrodes + [EASTING, 0.0]
    write_survey(Survey(electrodes, survey.abmn, analytic, 0.05 * np.abs(analytic)), path, "csv")
    plain = hpcinv.build_problem(load_config(_write_config(tmp_path, path.name)))
    mesh_data = simulate(plain.mesh, plain.survey, np.full(plain.mesh.n_cells, np.log(0.01)))
    assert np.max(np.abs(plain.dobs / mesh_data - 1)) > 0.01  # the mesh error is real
    config = load_config(_write_config(tmp_path, path.name))
    config.raw["mesh"]["correct_data"] = True
    from hpcinv.config import config_from_dict

    fixed = hpcinv.build_problem(config_from_dict(config.raw, path=config.path))
    assert fixed.info.notes["data_correction"]["applied"]
    assert np.allclose(fixed.dobs, mesh_data, rtol=1e-8)
    assert np.allclose(fixed.uncertainty / np.abs(fixed.dobs), 0.05)


def test_cli_run_resume_and_export_of_a_field_data_run(tmp_path, capsys):
    """`hpcinv resume DIR` finds the data file the run file names relative to itself (not
    relative to DIR), and `export` writes ground cells only, in the file's coordinates."""
    import json

    from hpcinv.cli import main

    path, _ = _line_data(tmp_path, slope=0.1)
    cfg = _write_config(tmp_path, path.name, "[checkpoint]\nevery = 2\n")
    out = tmp_path / "elsewhere" / "run"
    assert main(["run", str(cfg), "--out", str(out), "--iterations", "2"]) == 0
    assert main(["resume", str(out), "--iterations", "4", "--force"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["field_data"]
    csv = tmp_path / "model.csv"
    assert main(["export", str(out), "--out", str(csv)]) == 0
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    result = np.load(out / "result.npz")
    assert len(table) == int(result["active"].sum()) < len(result["model"])
    assert table[:, 0].min() > EASTING - 1000  # x back in the file's (easting) coordinates


def test_field_data_start_at_their_best_halfspace_unless_the_run_file_says(tmp_path):
    from hpcinv.driver.resolve import resolve_config

    path, _ = _line_data(tmp_path)
    config = load_config(_write_config(tmp_path, path.name))
    problem = hpcinv.build_problem(config)
    resolved = resolve_config(config, problem)
    sigma = problem.info.notes["halfspace_conductivity"]
    assert resolved.config.inversion.reference_value == pytest.approx(math.log(sigma))
    assert resolved.summary()["inversion.reference_model"] == pytest.approx(math.log(sigma))
    given = load_config(_write_config(tmp_path, path.name, "reference_model = -3.0"))
    assert resolve_config(given, problem).config.inversion.reference_value == -3.0
