"""hpcinv on a Slurm of three hosts: ``bash slurm/local-cluster.sh start --nodes 3``.

Each host is a network and UTS namespace of this machine (hostname hpcinv-nI, address
198.18.0.1I on the bridge hpcinv-br0, the driver's side 198.18.0.1), so workers talk to the
driver's scheduler and to each other over a real network instead of 127.0.0.1. Marked
``multinode``; skipped, with the reason, where sinfo does not show the three hosts (the
single-node cluster of the tests marked ``slurm`` included).

The scheduler runs in the driver on the host side: it must bind the bridge's address, which
a user sets with ``--slurm-scheduler-host`` (no code change needed).
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hpcinv.cli import main

HOSTS = ("hpcinv-n1", "hpcinv-n2", "hpcinv-n3")
BRIDGE_ADDR = "198.18.0.1"


def three_hosts_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    states = dict(line.split()[:2] for line in out.stdout.splitlines() if len(line.split()) >= 2)
    # a trailing '*' (not responding) is not up
    return out.returncode == 0 and all(
        states.get(h) in ("idle", "mixed", "allocated") for h in HOSTS
    )


pytestmark = [
    pytest.mark.multinode,
    pytest.mark.skipif(
        not three_hosts_up(),
        reason="sinfo shows no idle hosts hpcinv-n1..3 (start them: "
        "bash slurm/local-cluster.sh start --nodes 3)",
    ),
]

#: worker-job flags for the three hosts: the scheduler on the bridge, one worker job a host
MULTI = [
    "--slurm-scheduler-host",
    BRIDGE_ADDR,
    "--slurm-memory",
    "1GiB",
    "--slurm-walltime",
    "00:10:00",
    "--slurm-wait-seconds",
    "120",
]

#: the thread counts of the runner's processes (exported), for a reference run alike
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _config(tmp_path):
    """paper-1.1 without pretraining, in three tiles (one per worker)."""
    text = open("examples/paper-1.1.toml").read().replace("pretrain = true", "pretrain = false")
    assert "\nn_tiles = 1\n" in text
    cfg = tmp_path / "p11.toml"
    cfg.write_text(text.replace("\nn_tiles = 1\n", "\nn_tiles = 3\n"))
    return cfg


def _summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def _same_result(a_dir, b_dir):
    a, b = _summary(a_dir), _summary(b_dir)
    assert b["history"]["phi_d"] == a["history"]["phi_d"] and b["chi"] == a["chi"]
    assert np.array_equal(
        np.load(a_dir / "result.npz")["model"], np.load(b_dir / "result.npz")["model"]
    )


def test_slurm_workers_on_three_hosts_equal_serial(tmp_path, monkeypatch):
    import socket

    import hpcinv.engine.cluster as engine_cluster

    # what the driver's scheduler sees, recorded as soon as the workers have joined
    seen = {}
    real_slurm_cluster = engine_cluster.slurm_cluster

    def recording_slurm_cluster(spec, **kwargs):
        handle = real_slurm_cluster(spec, **kwargs)
        seen["scheduler"] = handle.client.scheduler.address
        seen["workers"] = sorted(handle.client.scheduler_info()["workers"])
        seen["hostnames"] = handle.client.run(socket.gethostname)
        return handle

    monkeypatch.setattr(engine_cluster, "slurm_cluster", recording_slurm_cluster)
    cfg = _config(tmp_path)
    serial, slurm = tmp_path / "serial", tmp_path / "slurm"
    assert main(["run", str(cfg), "--out", str(serial), "--iterations", "3"]) == 0
    argv = ["run", str(cfg), "--out", str(slurm), "--iterations", "3", "--slurm"]
    argv += ["--workers", "3", "--threads-per-worker", "1", *MULTI]
    assert main([*argv, "--slurm-directive=--exclusive"]) == 0  # one worker job a host

    assert seen["scheduler"].startswith(f"tls://{BRIDGE_ADDR}:")
    hosts = {w.removeprefix("tls://").rsplit(":", 1)[0] for w in seen["workers"]}
    assert len(seen["workers"]) == 3 and len(hosts) == 3, seen
    assert all(h.startswith("198.18.") for h in hosts), seen
    assert sorted(seen["hostnames"].values()) == list(HOSTS), seen
    assert _summary(slurm)["n_workers"] == 3
    _same_result(serial, slurm)


def _hpcinv(*argv):
    out = subprocess.run(
        [sys.executable, "-m", "hpcinv", *map(str, argv)],
        env=dict(os.environ, **THREADS),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out


def test_one_allocation_runner_on_three_hosts_equals_serial(tmp_path):
    # -N 3 -n 5, at most 2 tasks a host (else Slurm packs 3 on n1), dealt out cyclically:
    # scheduler on n1, driver on n2, workers on n3, n1 and n2. The scheduler advertises its
    # host's address: with no default route Dask falls back to `hostname`'s address, which
    # the namespace's /etc/hosts gives (/etc/netns/hpcinv-nI/hosts)
    cfg = _config(tmp_path)
    serial, runner = tmp_path / "serial", tmp_path / "runner"
    _hpcinv("run", cfg, "--out", serial, "--iterations", "3")
    exports = ",".join(f"{k}={v}" for k, v in THREADS.items())
    out = subprocess.run(
        [
            "sbatch",
            "--wait",
            "-N",
            "3",
            "-n",
            "5",
            "--ntasks-per-node=2",
            "--mem-per-cpu=1G",
            "--time=10",
            f"--export=ALL,{exports}",
            "-o",
            str(tmp_path / "runner-%j.out"),
            "--wrap",
            f"srun --distribution=cyclic --label sh -c 'hostname; exec {sys.executable} -m hpcinv "
            f"run {cfg} --out {runner} --iterations 3 --slurm-runner'",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    log_text = "".join(p.read_text() for p in tmp_path.glob("runner-*.out"))
    assert out.returncode == 0, out.stderr + log_text
    # srun --label: "TASK: hostname" lines first
    task_hosts = {}
    for line in log_text.splitlines():
        task, _, rest = line.partition(": ")
        if task.strip().isdigit() and rest.strip() in HOSTS:
            task_hosts[int(task)] = rest.strip()
    assert len(task_hosts) == 5, log_text
    assert {task_hosts[t] for t in (2, 3, 4)} == set(HOSTS), task_hosts  # a worker a host
    # the scheduler's log (task 0): it listens on n1's bridge address, workers join from 3
    assert re.search(r"Scheduler at:\s+tls://198\.18\.0\.11:\d+", log_text), log_text
    joined = set(re.findall(r"Register worker addr: tls://(198\.18\.[0-9.]+):", log_text))
    assert len(joined) == 3, log_text
    assert _summary(runner)["n_workers"] == 3
    _same_result(serial, runner)
    assert not list(runner.glob(".dask-*"))
