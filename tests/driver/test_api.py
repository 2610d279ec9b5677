"""The Python API: hpcinv.run / hpcinv.resume / Result, and what a run directory records."""

import json

import numpy as np
import pytest

import hpcinv
from hpcinv.cli import main
from hpcinv.config import config_from_dict

RAW = {
    "problem": {"case": "tiny-2d"},
    "network": {"channels": [8, 4]},
    "inversion": {"learning_rate": 1e-2, "iterations": 6},
    "checkpoint": {"every": 2},
}


def test_run_and_resume_from_python_equal_an_uninterrupted_run(tmp_path):
    # a config built in Python (no run file): the run directory gets its TOML, and resume
    # reads it back
    config = config_from_dict(RAW)
    straight = hpcinv.run(config, tmp_path / "straight")
    assert isinstance(straight, hpcinv.Result)
    assert straight.summary["iterations"] == 6 and len(straight.history["chi"]) == 6
    assert straight.model.shape == (240,)
    part = hpcinv.run(config, tmp_path / "part", iterations=3)
    assert part.summary["iterations"] == 3
    resumed = hpcinv.resume(tmp_path / "part")  # to the run file's 6
    assert resumed.history == straight.history | {"seconds": resumed.history["seconds"]}
    assert np.array_equal(resumed.model, straight.model)
    assert "6 iterations" in repr(resumed)


def test_result_exports_and_draws(tmp_path):
    result = hpcinv.run(config_from_dict(RAW), tmp_path / "run", iterations=2)
    path = result.export(tmp_path / "model.csv")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (240, 5) and np.allclose(table[:, 2], result.model, rtol=1e-7)
    assert {p.name for p in result.report()} >= {"model.png", "convergence.png"}
    # result.npz's coverage is the cumulative sensitivity at the final model
    problem = hpcinv.build_problem(config_from_dict(RAW))
    expected = hpcinv.SerialExecutor(problem).sensitivity([result.model])[0]["coverage"]
    np.testing.assert_allclose(result.arrays["coverage"], expected, rtol=1e-10)
    assert np.all(expected > 0)
    with pytest.raises(hpcinv.HpcinvError, match=r"no export format for '\.vtu'; use \.csv"):
        result.export(tmp_path / "model.vtu")
    assert not (tmp_path / "model.vtu").exists()


def test_a_run_directory_is_not_overwritten_unless_asked(tmp_path):
    config = config_from_dict(RAW)
    hpcinv.run(config, tmp_path / "run", iterations=1)
    with pytest.raises(hpcinv.HpcinvError, match="already holds a run"):
        hpcinv.run(config, tmp_path / "run", iterations=1)
    assert (
        hpcinv.run(config, tmp_path / "run", iterations=2, overwrite=True).summary["iterations"]
        == 2
    )
    with pytest.raises(hpcinv.HpcinvError, match="give 0 or more"):
        hpcinv.run(config, tmp_path / "other", iterations=-1)


def test_hooks_see_every_iteration(tmp_path):
    seen = []
    hpcinv.run(
        config_from_dict(RAW),
        tmp_path / "run",
        iterations=3,
        hooks=[lambda inv, rec: seen.append((inv.iteration, rec.chi))],
    )
    assert [i for i, _ in seen] == [1, 2, 3] and all(chi > 0 for _, chi in seen)


def test_summary_records_threads_and_versions(tmp_path):
    raw = {**RAW, "network": {"channels": [8, 4], "threads": 2}}
    summary = hpcinv.run(config_from_dict(raw), tmp_path / "run", iterations=1).summary
    assert summary["threads"] == {"network": 2, "physics": 1}
    versions = summary["versions"]
    assert versions["hpcinv"] == hpcinv.__version__ and "torch" in versions
    assert versions["blas"] and all("internal_api" in lib for lib in versions["blas"])
    assert json.loads(json.dumps(summary)) == summary  # plain JSON


def test_version_report_on_the_command_line(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hpcinv {hpcinv.__version__}"
    assert main(["--version", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "simpeg" in out and "torch" in out and "Python" in out


def test_3d_runs_fill_3d_defaults_and_say_so(tmp_path):
    raw = {
        "problem": {"case": "tiny-3d"},
        "inversion": {"iterations": 3, "learning_rate": 1e-3},
        "checkpoint": {"every": 2},
    }
    result = hpcinv.run(config_from_dict(raw), tmp_path / "run")
    filled = result.summary["defaults_3d"]
    assert "inversion.learning_rate" not in filled and filled["inversion.relinearize_every"] == 20
    assert filled["network.channels"] == [16, 8, 4]
    assert result.arrays["history_exact"].tolist() == [1.0, 0.0, 0.0]
    two_d = hpcinv.run(config_from_dict(RAW), tmp_path / "2d", iterations=1)
    assert two_d.summary["defaults_3d"] == {}


def test_mc_dropout_samples_reach_result_summary_and_exports(tmp_path):
    raw = {**RAW, "ensemble": {"mc_dropout_samples": 8}}
    result = hpcinv.run(config_from_dict(raw), tmp_path / "mc", iterations=3)
    plain = hpcinv.run(config_from_dict(RAW), tmp_path / "plain", iterations=3)
    assert np.array_equal(result.model, plain.model)  # sampling after the run changes nothing
    std = result.arrays["mc_dropout_std"]
    assert std.shape == result.model.shape and (std > 0).any()
    assert result.summary["mc_dropout"]["std_median_core"] > 0
    header = result.export(tmp_path / "m.csv").read_text().splitlines()[0]
    assert header.endswith(",mc_dropout_mean,mc_dropout_std")
    no_dropout = {**raw, "network": {"channels": [8, 4], "dropout": 0.0}}
    with pytest.raises(hpcinv.HpcinvError, match="needs network.dropout > 0"):
        hpcinv.run(config_from_dict(no_dropout), tmp_path / "none", iterations=1)
    assert not (tmp_path / "none").exists()  # refused before anything was written
