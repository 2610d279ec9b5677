"""SIGTERM to a run's whole process group, as Slurm's walltime, ``scancel``, ``timeout`` and
``kill -- -PGID`` send it: local Dask workers die with the driver's signal, and the driver
must still checkpoint what it has and exit 75 within seconds (before 0.7 it waited in
``Client.gather`` forever); during stage 1 it exits at once saying nothing was lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpcinv.checkpoint import CheckpointStore
from hpcinv.cli import main

CONFIG = """
[problem]
case = "tiny-2d"
[physics]
n_tiles = 2
split = "wavenumbers"
[network]
channels = [8, 4]
[inversion]
iterations = 100000
learning_rate = 1e-2
[checkpoint]
every = 5
[output]
progress = "log"
"""


def start(args: list[str], log: Path) -> subprocess.Popen:
    """``hpcinv ARGS`` in a process group of its own (its Dask workers join it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hpcinv.cli", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    t0 = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended early ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"waited {timeout} s:\n{log.read_text()}")
        time.sleep(0.2)


def stop_group(proc: subprocess.Popen, log: Path, within: float = 60.0) -> tuple[int, float]:
    """SIGTERM to the whole group; (exit code, seconds it took)."""
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        code = proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"no exit {within} s after SIGTERM to the group:\n{log.read_text()}")
    return code, time.monotonic() - t0


@pytest.mark.slow
def test_sigterm_to_the_group_of_a_two_worker_run_checkpoints_and_exits_75(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    out, log = tmp_path / "out", tmp_path / "run.log"
    proc = start(["run", str(config), "--out", str(out), "--workers", "2"], log)
    store = CheckpointStore(out / "checkpoint.zarr")
    wait_for(lambda: store.exists() and store.iterations(), 240, proc, log)
    time.sleep(1.0)  # inside some step: the workers are solving
    code, seconds = stop_group(proc, log)
    text = log.read_text()
    assert code == 75, text
    assert seconds < 60
    assert "received SIGTERM: checkpointed at iteration" in text
    state, _ = store.load_latest()
    done = int(state["iteration"])
    summary = json.loads((out / "summary.json").read_text())
    assert done >= 5 and summary["iterations"] == done
    assert summary["stopped"] == "interrupted by SIGTERM"
    # the checkpoint is whole: the run goes on from it
    assert main(["resume", str(out), "--iterations", str(done + 2), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == done + 2


@pytest.mark.slow
def test_sigterm_to_the_group_during_stage_1_says_nothing_was_lost(tmp_path):
    config = tmp_path / "run.toml"
    # the paper's network and stage 1 (hundreds of network-only steps, seconds)
    config.write_text(
        CONFIG.replace('case = "tiny-2d"', 'case = "paper-1.1"')
        .replace("channels = [8, 4]", "channels = [64, 32, 8]")
        .replace("learning_rate = 1e-2", "learning_rate = 1e-4\npretrain = true")
    )
    out, log = tmp_path / "out", tmp_path / "run.log"
    proc = start(["run", str(config), "--out", str(out), "--workers", "2"], log)
    wait_for(lambda: "DIP inversion of" in log.read_text(), 240, proc, log)
    time.sleep(0.5)
    code, seconds = stop_group(proc, log)
    text = log.read_text().strip()
    assert code == 75 and seconds < 60, text
    # the command's own last word (a dying Dask worker may still log after it)
    said = [line for line in text.splitlines() if line.startswith("hpcinv: ")]
    assert said and "before the first iteration: nothing was lost" in said[-1], text
    assert not (out / "checkpoint.zarr").exists()
    # the same command runs again (what a requeued batch job does)
    rerun = subprocess.run(
        [sys.executable, "-m", "hpcinv.cli", "run", str(config), "--out", str(out)]
        + ["--iterations", "2"],
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr


@pytest.mark.slow
def test_a_conventional_run_writes_every_iteration_and_keeps_its_last_model_on_sigterm(tmp_path):
    config = tmp_path / "conventional.toml"
    config.write_text(
        '[problem]\ncase = "paper-1.1"\n[inversion]\nkind = "conventional"\n'
        "[conventional]\nmax_iterations = 40\n"
    )
    out, log = tmp_path / "out", tmp_path / "run.log"
    proc = start(["run", str(config), "--out", str(out)], log)
    summary = out / "summary.json"
    wait_for(summary.exists, 300, proc, log)  # written after the first iteration
    first = json.loads(summary.read_text())
    assert first["kind"] == "conventional" and first["stopped"] == "running"
    assert first["iterations"] >= 1 and len(first["history"]["chi"]) == first["iterations"]
    code, seconds = stop_group(proc, log)
    text = log.read_text()
    assert code == 75 and seconds < 60, text
    assert "conventional iteration 1: chi" in text and "CG iterations" in text
    last = json.loads(summary.read_text())
    assert last["stopped"] == "interrupted by SIGTERM"
    assert last["iterations"] >= first["iterations"]
    import numpy as np

    with np.load(out / "result.npz") as r:
        assert r["model"].shape == (6848,) and np.isfinite(r["model"]).all()
