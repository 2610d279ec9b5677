"""`hpcinv run`, `export` and `report` end to end on a short paper-1.1 run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpcinv.cli import main

SUMMARY_KEYS = {
    "iterations",
    "phi_d",
    "chi",
    "n_data",
    "mae_core",
    "history",
    "timing",
    "factorizations",
    "n_tiles",
    "n_workers",
    "device",
    "config_sha256",
    "hpcinv_version",
}


@pytest.fixture(scope="module")
def quick_config(tmp_path_factory):
    """The paper-1.1 example without stage 1 (which fits 23k weights for ~20 s)."""
    text = open("examples/paper-1.1.toml").read().replace("pretrain = true", "pretrain = false")
    path = tmp_path_factory.mktemp("cfg") / "paper-1.1-quick.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, quick_config):
    out = tmp_path_factory.mktemp("runs") / "p11"
    assert main(["run", quick_config, "--out", str(out), "--iterations", "3"]) == 0
    return out


def test_summary_has_the_contract(short_run, quick_config):
    s = json.loads((short_run / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(s)
    assert s["iterations"] == 3 and s["n_data"] == 348
    assert np.isclose(s["chi"], s["phi_d"] / (348 / 2))
    assert set(s["history"]) == {"phi_d", "chi", "beta", "seconds"}
    assert all(len(v) == 3 for v in s["history"].values())
    assert s["history"]["beta"][0] == 1.0
    assert set(s["timing"]) >= {
        "seconds_per_iteration_median",
        "solve_seconds",
        "overhead_fraction",
    }
    assert 0.0 <= s["timing"]["overhead_fraction"] < 1.0
    # one factorization per wavenumber (11) per tile per iteration
    assert s["factorizations"] == {"per_iteration_max": 11, "per_tile_per_iteration_max": 11}
    assert 0 < s["mae_core"] < 5 and s["device"] == "cpu" and len(s["config_sha256"]) == 64
    # the run file as given, after one comment line naming it (resume resolves its paths)
    source, copied = (short_run / "config.toml").read_text().split("\n", 1)
    assert source == f"# hpcinv: copied from {Path(quick_config).resolve()}"
    assert copied == Path(quick_config).read_text()


def test_export_writes_one_row_per_cell(short_run, tmp_path):
    out = tmp_path / "model.csv"
    assert main(["export", str(short_run), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "x,z,log_conductivity,resistivity,coverage"
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert table.shape == (6848, 5)
    assert np.all((table[:, 2] > -8) & (table[:, 2] < 0))
    with np.load(short_run / "result.npz") as r:
        assert np.allclose(table[:, 2], r["model"], rtol=1e-7)


def test_report_draws_the_figures(short_run):
    assert main(["report", str(short_run)]) == 0
    for name in ("model.png", "convergence.png", "data.png"):
        png = short_run / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_refuses_a_directory_that_holds_a_run(short_run, capsys):
    assert (
        main(["run", "examples/paper-1.1.toml", "--out", str(short_run), "--iterations", "1"]) == 2
    )
    assert "already holds a run" in capsys.readouterr().err


def test_export_of_a_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    assert "no result yet" in capsys.readouterr().err


def test_unknown_generator_exits_2_with_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[problem]\ncase = "paper-1.1"\n[network]\nkind = "resnet"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "hpcinv.cli", "run", str(cfg), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "network.kind = 'resnet' is not allowed" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_run_on_a_local_dask_cluster_equals_serial(tmp_path, short_run, quick_config):
    out = tmp_path / "dask"
    assert (
        main(
            [
                "run",
                quick_config,
                "--out",
                str(out),
                "--iterations",
                "3",
                "--workers",
                "2",
                "--threads-per-worker",
                "1",
            ]
        )
        == 0
    )
    dask_summary = json.loads((out / "summary.json").read_text())
    serial = json.loads((short_run / "summary.json").read_text())
    assert dask_summary["n_workers"] == 2
    # the same iterates: the Dask executor reproduces the serial one exactly
    assert dask_summary["history"]["phi_d"] == serial["history"]["phi_d"]
    assert dask_summary["chi"] == serial["chi"]


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--workers", "-1"], "--workers -1"),
        (["--workers", "2", "--scheduler-address", "tcp://127.0.0.1:1"], "choose one of"),
        (["--threads-per-worker", "0", "--workers", "1"], "--threads-per-worker 0"),
    ],
)
def test_bad_cluster_flags(tmp_path, capsys, flags, words):
    assert main(["run", "examples/paper-1.1.toml", "--out", str(tmp_path / "r"), *flags]) == 2
    assert words in capsys.readouterr().err


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "run",
            "examples/paper-1.1.toml",
            "--out",
            str(tmp_path / "r"),
            "--iterations",
            "1",
            "--scheduler-address",
            "tcp://127.0.0.1:9",
            "--connect-timeout",
            "2",
        ]
    )
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_block_3d_runs_and_reports(tmp_path):
    # the 3D path end to end: cnn-3d, local tile meshes, checkpoint, 3D figures, export
    out = tmp_path / "b3d"
    text = open("examples/block-3d.toml").read().replace("pretrain = true", "pretrain = false")
    cfg = tmp_path / "b3d.toml"
    cfg.write_text(text)
    assert main(["run", str(cfg), "--out", str(out), "--iterations", "2"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_tiles"] == 4 and s["network"] == "CNN3D" and s["iterations"] == 2
    assert s["factorizations"]["per_tile_per_iteration_max"] == 1
    assert main(["report", str(out)]) == 0
    assert (out / "figures" / "model.png").stat().st_size > 10_000
    assert main(["export", str(out), "--out", str(tmp_path / "m.csv")]) == 0
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert header.startswith("x,y,z,log_conductivity,")
