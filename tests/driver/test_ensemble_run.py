"""Ensembles through the run driver: one run directory, every member checkpointed, the
members' mean and spread in result.npz, resume, the --ensemble flag."""

import numpy as np

import hpcinv
from hpcinv.cli import main
from hpcinv.config import config_from_dict

RAW = {
    "problem": {"case": "tiny-2d"},
    "network": {"channels": [8, 4]},
    "inversion": {"learning_rate": 1e-2, "iterations": 4},
    "checkpoint": {"every": 2},
}


def with_members(k, **ensemble):
    return config_from_dict({**RAW, "ensemble": {"members": k, **ensemble}})


def test_an_ensemble_run_records_members_mean_and_spread(tmp_path):
    result = hpcinv.run(with_members(3, exceedance_resistivity=100.0), tmp_path / "ens")
    single = hpcinv.run(config_from_dict(RAW), tmp_path / "single")
    models = result.arrays["ensemble_models"]
    assert models.shape == (3, 240)
    np.testing.assert_array_equal(models[0], single.model)  # member 0 is the run file's run
    np.testing.assert_allclose(result.model, models.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(result.arrays["ensemble_std"], models.std(axis=0), rtol=1e-12)
    below = result.arrays["ensemble_p_below"]  # resistivity < 100 ohm m: ln(S/m) > ln(0.01)
    np.testing.assert_array_equal(below, (models > np.log(0.01)).mean(axis=0))
    ens = result.summary["ensemble"]
    assert ens["members"] == 3 and len(ens["member_chi"]) == 3
    assert result.summary["iterations"] == 4 and ens["member_iterations"] == [4, 4, 4]
    assert ens["std_median_core"] > 0
    # each member's final chi is that of its own model's data
    assert ens["member_chi"][0] == single.summary["chi"]
    header = result.export(tmp_path / "m.csv").read_text().splitlines()[0]
    assert header.endswith(",ensemble_std,ensemble_p_below")
    figures = [path.name for path in result.report()]
    assert "spread.png" in figures and "spread.png" not in [p.name for p in single.report()]


def test_a_resumed_ensemble_equals_an_uninterrupted_one(tmp_path):
    straight = hpcinv.run(with_members(2), tmp_path / "straight")
    part = hpcinv.run(with_members(2), tmp_path / "part", iterations=2)
    assert part.summary["iterations"] == 2
    resumed = hpcinv.resume(tmp_path / "part")
    np.testing.assert_array_equal(
        resumed.arrays["ensemble_models"], straight.arrays["ensemble_models"]
    )
    assert resumed.summary["ensemble"]["member_chi"] == straight.summary["ensemble"]["member_chi"]


def test_the_ensemble_flag_is_recorded_for_resume(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        '[problem]\ncase = "tiny-2d"\n[network]\nchannels = [8, 4]\n'
        "[inversion]\nlearning_rate = 1e-2\niterations = 2\n"
    )
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--ensemble", "2"]) == 0
    assert "members = 2" in (out / "config.toml").read_text()
    summary = hpcinv.Result(out).summary
    assert summary["ensemble"]["members"] == 2
    assert main(["resume", str(out), "--iterations", "3"]) == 0
    assert hpcinv.Result(out).summary["ensemble"]["member_iterations"] == [3, 3]


def test_an_ensemble_on_dask_workers_equals_the_serial_one(tmp_path):
    """The pipelined batch on two local workers: the members' tasks interleaved with their
    network passes, the same iterates as one process."""
    serial = hpcinv.run(with_members(3), tmp_path / "serial", iterations=3)
    dask = hpcinv.run(with_members(3), tmp_path / "dask", iterations=3, workers=2)
    np.testing.assert_allclose(
        dask.arrays["ensemble_models"], serial.arrays["ensemble_models"], rtol=1e-9, atol=1e-12
    )
    assert dask.summary["n_workers"] == 2


def test_an_ensembles_mc_dropout_is_member_0s_as_a_single_run_gives_it(tmp_path):
    raw = {**RAW, "network": {"channels": [8, 4], "dropout": 0.1}}
    mc = {"mc_dropout_samples": 5}
    single = hpcinv.run(config_from_dict({**raw, "ensemble": mc}), tmp_path / "single")
    result = hpcinv.run(
        config_from_dict({**raw, "ensemble": {"members": 2, **mc}}), tmp_path / "ens"
    )
    for key in ("mc_dropout_mean", "mc_dropout_std"):
        np.testing.assert_array_equal(result.arrays[key], single.arrays[key])
    assert result.arrays["mc_dropout_std"].max() > 0
    assert result.summary["mc_dropout"]["member"] == 0
    assert "mc_dropout_std" in result.export(tmp_path / "m.csv").read_text().splitlines()[0]
    # both spreads drawn, neither over the other
    assert {"spread.png", "mc_dropout.png"} <= {path.name for path in result.report()}
    assert [path.name for path in single.report()].count("mc_dropout.png") == 1
