"""``hpcinv submit`` driver jobs and the one-allocation runner, against a real Slurm.

References run in fresh processes with the thread counts the jobs have: results agree
bitwise only between processes set up alike (the in-process reference of a long pytest
session differed from the jobs' in the 10th digit).

The walltime test gives the driver job a 2-minute limit with the signal 60 s before it, and
a run sized (by a timed calibration run) to need about 80 s: hpcinv checkpoints on the
signal, the job requeues itself (slurm/local-cluster.sh sets a 10 s requeue delay instead of
Slurm's 120 s) and the resumed run must end exactly where an uninterrupted run ends. The
uninterrupted reference runs before the job, not beside it: on 2 cores a reference beside
the job doubled the job's work, and every extra 60 s of work is one more signal and requeue
(CI measured 418 s and 311 s for the two tests that way).
"""

import json
import os
import subprocess
import sys

import numpy as np

from hpcinv.cli import main

from slurm_helpers import LOCAL, SLURM_MARKS, job_field, wait_for_job

pytestmark = SLURM_MARKS


def _paper_config(tmp_path):
    text = open("examples/paper-1.1.toml").read().replace("pretrain = true", "pretrain = false")
    cfg = tmp_path / "p11.toml"
    cfg.write_text(text)
    return cfg


def _submit(capsys, *argv) -> str:
    assert main(["submit", *argv]) == 0
    job_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert job_id.isdigit()
    return job_id


def _history(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


#: seconds of work the signal tests' runs are sized to (the signal comes at most 60 s in)
WORK_SECONDS = 80.0

#: the thread counts of the driver processes (submit --cpus 2; runner: exported)
THREADS = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def _hpcinv(*argv, background=False):
    """``python -m hpcinv ...`` in a fresh process with the jobs' thread counts."""
    cmd = [sys.executable, "-m", "hpcinv", *map(str, argv)]
    env = dict(os.environ, **THREADS)
    if background:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def test_submitted_driver_with_slurm_workers_equals_the_local_cluster_run(tmp_path, capsys):
    cfg = _paper_config(tmp_path)
    local, submitted = tmp_path / "local", tmp_path / "submitted"
    _hpcinv(
        "run",
        cfg,
        "--out",
        local,
        "--iterations",
        "3",
        "--workers",
        "2",
        "--threads-per-worker",
        "1",
    )
    job = _submit(
        capsys,
        str(cfg),
        "--out",
        str(submitted),
        "--iterations",
        "3",
        "--time",
        "00:10:00",
        "--memory",
        "2GiB",
        "--cpus",
        "2",
        "--slurm",
        "--workers",
        "2",
        "--threads-per-worker",
        "1",
        *LOCAL,
    )
    assert wait_for_job(job, timeout=300) == "COMPLETED", (
        submitted / f"slurm-driver-{job}.out"
    ).read_text()
    a, b = _history(local), _history(submitted)
    assert b["n_workers"] == 2 and b["iterations"] == 3
    assert b["history"]["phi_d"] == a["history"]["phi_d"] and b["chi"] == a["chi"]
    logs = list((submitted / "slurm-logs").iterdir())
    assert logs  # the worker jobs wrote their own logs: they were Slurm jobs of their own
    assert "finished with exit code 0" in (submitted / f"slurm-driver-{job}.out").read_text()


def _tiny_config(path, iterations):
    path.write_text(
        '[problem]\ncase = "tiny-2d"\n[network]\nchannels = [8, 4]\n'
        f"[inversion]\niterations = {iterations}\nlearning_rate = 1e-3\n"
        f"[checkpoint]\nevery = {max(1, iterations // 3)}\n"
        '[output]\nprogress = "log"\n'
    )
    return path


def test_walltime_signal_checkpoints_requeues_and_resumes_identically(tmp_path, capsys):
    # size the run to ~80 s of work on this machine, so the signal (at most 60 s into a
    # 2-minute job) surely comes before the end
    calibration = _tiny_config(tmp_path / "calibrate.toml", 200)
    _hpcinv("run", calibration, "--out", tmp_path / "calibrate")
    per_iteration = _history(tmp_path / "calibrate")["timing"]["seconds_per_iteration_median"]
    iterations = int(min(20000, max(1200, WORK_SECONDS / per_iteration)))
    cfg = _tiny_config(tmp_path / "tiny.toml", iterations)
    submitted, uninterrupted = tmp_path / "submitted", tmp_path / "uninterrupted"
    _hpcinv("run", cfg, "--out", uninterrupted)
    job = _submit(
        capsys,
        str(cfg),
        "--out",
        str(submitted),
        "--time",
        "2",
        "--signal-lead",
        "60",
        "--cpus",
        "2",
        "--memory",
        "2GiB",
    )
    state = wait_for_job(job, timeout=900)
    log_text = (submitted / f"slurm-driver-{job}.out").read_text()
    assert state == "COMPLETED", log_text
    assert int(job_field(job, "Restarts")) >= 1, log_text
    assert "requeueing job" in log_text and "received SIGUSR1: checkpointed" in log_text
    a, b = _history(uninterrupted), _history(submitted)
    assert b["iterations"] == iterations
    assert b["history"]["phi_d"] == a["history"]["phi_d"]
    ma = np.load(uninterrupted / "result.npz")["model"]
    mb = np.load(submitted / "result.npz")["model"]
    assert np.array_equal(ma, mb)


def test_runner_job_checkpoints_on_the_signal_requeues_and_resumes_identically(tmp_path, capsys):
    # the one-allocation mode: the batch shell passes USR1 to srun, srun to every task; the
    # driver task checkpoints and exits 75, the scheduler and worker tasks end with it
    calibration = _tiny_config(tmp_path / "calibrate.toml", 100)
    _hpcinv(
        "run",
        calibration,
        "--out",
        tmp_path / "calibrate",
        "--workers",
        "1",
        "--threads-per-worker",
        "1",
    )
    per_iteration = _history(tmp_path / "calibrate")["timing"]["seconds_per_iteration_median"]
    iterations = int(min(20000, max(600, WORK_SECONDS / per_iteration)))
    cfg = _tiny_config(tmp_path / "tiny.toml", iterations)
    submitted, uninterrupted = tmp_path / "submitted", tmp_path / "uninterrupted"
    _hpcinv(
        "run",
        cfg,
        "--out",
        uninterrupted,
        "--workers",
        "1",
        "--threads-per-worker",
        "1",
    )
    job = _submit(
        capsys,
        str(cfg),
        "--out",
        str(submitted),
        "--time",
        "2",
        "--signal-lead",
        "60",
        "--slurm-runner",
        "--workers",
        "1",
        "--threads-per-worker",
        "1",
        "--memory",
        "1GiB",
    )
    state = wait_for_job(job, timeout=900)
    log_text = (submitted / f"slurm-driver-{job}.out").read_text()
    assert state == "COMPLETED", log_text
    assert int(job_field(job, "Restarts")) >= 1, log_text
    assert "requeueing job" in log_text and "received SIGUSR1: checkpointed" in log_text
    a, b = _history(uninterrupted), _history(submitted)
    assert b["iterations"] == iterations and b["n_workers"] == 1
    assert b["history"]["phi_d"] == a["history"]["phi_d"]
    ma = np.load(uninterrupted / "result.npz")["model"]
    mb = np.load(submitted / "result.npz")["model"]
    assert np.array_equal(ma, mb)
    assert not list(submitted.glob(".dask-*"))  # every restart's certificates removed


def test_one_allocation_runner_equals_serial(tmp_path):
    cfg = _paper_config(tmp_path)
    serial, runner = tmp_path / "serial", tmp_path / "runner"
    _hpcinv("run", cfg, "--out", serial, "--iterations", "3")
    hpcinv = f"{sys.executable} -m hpcinv"
    exports = ",".join(f"{k}={v}" for k, v in THREADS.items())
    out = subprocess.run(
        [
            "sbatch",
            "--wait",
            "-n",
            "4",
            "--mem-per-cpu=1G",
            "--time=10",
            f"--export=ALL,{exports}",
            "-o",
            str(tmp_path / "runner-%j.out"),
            "--wrap",
            f"srun {hpcinv} run {cfg} --out {runner} --iterations 3 --slurm-runner",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    log_text = "".join(p.read_text() for p in tmp_path.glob("runner-*.out"))
    assert out.returncode == 0, out.stderr + log_text
    a, b = _history(serial), _history(runner)
    assert b["n_workers"] == 2  # 4 tasks: scheduler, driver, two workers
    assert b["history"]["phi_d"] == a["history"]["phi_d"] and b["chi"] == a["chi"]
    assert "task 0 of 4 (scheduler)" in log_text and "task 1 of 4 (driver)" in log_text
    assert not list(runner.glob(".dask-*"))  # certificates removed with the step


def test_runner_outside_srun_says_how_to_start_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    assert (
        main(["run", "examples/paper-1.1.toml", "--out", str(tmp_path / "x"), "--slurm-runner"])
        == 2
    )
    assert "srun -n N hpcinv run" in capsys.readouterr().err


def test_submit_with_a_bad_partition_fails_with_slurms_words(tmp_path, capsys):
    cfg = _paper_config(tmp_path)
    assert (
        main(["submit", str(cfg), "--out", str(tmp_path / "r"), "--partition", "no-such-partition"])
        == 2
    )
    err = capsys.readouterr().err
    assert "sbatch refused" in err and "invalid partition" in err.lower(), err


def test_scancel_of_a_runner_job_checkpoints_and_the_run_resumes(tmp_path):
    """``scancel`` signals every task of the one-allocation cluster at once (SIGTERM): the
    scheduler and workers go down with the driver, which must still checkpoint the steps it
    completed and exit 75 without waiting for the dead workers (it hung in Client.gather
    before 0.7); the checkpoint is whole, so the run resumes from it."""
    import time

    from hpcinv.checkpoint import CheckpointStore

    cfg = _paper_config(tmp_path)
    cfg.write_text(
        cfg.read_text()
        .replace("every = 100", "every = 5")
        .replace("iterations = 2000", "iterations = 100000")
    )
    runner = tmp_path / "runner"
    hpcinv = f"{sys.executable} -m hpcinv"
    exports = ",".join(f"{k}={v}" for k, v in THREADS.items())
    log = tmp_path / "runner.out"
    job = (
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "-n",
                "4",
                "--mem-per-cpu=1G",
                "--time=10",
                f"--export=ALL,{exports}",
                "-o",
                str(log),
                "--wrap",
                f"srun {hpcinv} run {cfg} --out {runner} --slurm-runner",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(";")[0]
    )
    store = CheckpointStore(runner / "checkpoint.zarr")
    t0 = time.monotonic()
    while not (store.exists() and store.iterations()):
        assert time.monotonic() - t0 < 300, log.read_text() if log.exists() else "no output"
        time.sleep(1.0)
    time.sleep(1.0)  # inside a step
    subprocess.run(["scancel", job], check=True)
    wait_for_job(job, timeout=120)
    t0 = time.monotonic()  # the job is marked cancelled while its tasks still wind down
    while "received SIGTERM" not in log.read_text() and time.monotonic() - t0 < 90:
        time.sleep(1.0)
    text = log.read_text()
    assert "received SIGTERM: checkpointed at iteration" in text, text
    assert "task 1: Exited with exit code 75" in text, text  # the driver, not killed
    state, _ = store.load_latest()
    done = int(state["iteration"])
    assert done >= 5 and _history(runner)["stopped"] == "interrupted by SIGTERM"
    _hpcinv("resume", runner, "--iterations", done + 2, "--force")
    assert _history(runner)["iterations"] == done + 2
