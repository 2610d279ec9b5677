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
#: the machine's side of the second network (eth1 in the hosts)
FAST_ADDR = "198.19.0.1"


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


@pytest.mark.parametrize("interface", [None, "eth1"])
def test_one_allocation_runner_on_three_hosts_equals_serial(tmp_path, interface):
    # -N 3 -n 5, at most 2 tasks a host (else Slurm packs 3 on n1), dealt out cyclically:
    # scheduler on n1, driver on n2, workers on n3, n1 and n2. The scheduler advertises its
    # host's address: with no default route Dask falls back to `hostname`'s address, which
    # the namespace's /etc/hosts gives (/etc/netns/hpcinv-nI/hosts). With --slurm-interface
    # eth1 everything moves to the second network (198.19.0.0/24), names or not
    net = "198.18" if interface is None else "198.19"
    extra = "" if interface is None else f" --slurm-interface {interface}"
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
            f"run {cfg} --out {runner} --iterations 3 --slurm-runner{extra}'",
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
    at = re.escape(f"{net}.0.11")
    assert re.search(rf"Scheduler at:\s+tls://{at}:\d+", log_text), log_text
    joined = set(re.findall(r"Register worker addr: tls://([0-9.]+):", log_text))
    assert len(joined) == 3 and all(a.startswith(f"{net}.0.1") for a in joined), log_text
    assert _summary(runner)["n_workers"] == 3
    _same_result(serial, runner)
    assert not list(runner.glob(".dask-*"))


#: run in another host's namespace: the outcome of four connections to the scheduler
CROSS_HOST_CLIENT = r"""
import json, socket, sys
from distributed import Client
from distributed.security import Security

address, ca, cert, key = sys.argv[1:5]
# the address this host dials from (the route to the scheduler; UDP connect sends nothing)
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect((address.removeprefix("tls://").rsplit(":", 1)[0], 9))
out = {"source": probe.getsockname()[0]}


def attempt(name, target, security):
    try:
        with Client(target, security=security, timeout=20) as client:
            out[name] = len(client.scheduler_info()["workers"])
    except Exception as exc:
        cause = exc.__cause__
        out[name] = [type(exc).__name__, str(exc), type(cause).__name__ if cause else None]


own = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
attempt("own", address, own)
attempt("plain", address.replace("tls://", "tcp://"), None)
attempt("other_ca", address, Security.temporary())
# trusts the run's CA, so it accepts the scheduler, but shows another CA's certificate
other = Security.temporary()
impostor = Security(
    tls_ca_file=ca,
    tls_client_cert=other.tls_client_cert,
    tls_client_key=other.tls_client_key,
    require_encryption=True,
)
attempt("impostor", address, impostor)
print(json.dumps(out))
"""


def test_tls_refuses_a_client_on_another_host_without_the_runs_credentials(tmp_path):
    """The scheduler on the bridge, a worker job on a host, and a client dialling in from
    host hpcinv-n3's own namespace: with the run's certificate it sees the worker (so the
    network path is open), without it (plain TCP, another CA, the CA but no certificate of
    of its own) it is refused, and the scheduler's listener logs the refused certificate."""
    import logging

    from hpcinv.engine.cluster import SlurmWorkers, slurm_cluster

    spec = SlurmWorkers(
        jobs=1,
        memory="1GiB",
        walltime="00:05:00",
        wait_seconds=120,
        scheduler_host=BRIDGE_ADDR,
        log_directory=str(tmp_path),
    )
    handle = slurm_cluster(spec, shared_directory=str(tmp_path))
    # the scheduler runs in this process ("distributed" does not propagate to the root logger)
    refusals = []

    class Collect(logging.Handler):
        def emit(self, record):
            refusals.append(record.getMessage())

    listener_log = logging.getLogger("distributed.comm.tcp")
    collect = Collect(logging.WARNING)
    listener_log.addHandler(collect)
    try:
        address = handle.client.scheduler.address
        assert address.startswith(f"tls://{BRIDGE_ADDR}:")
        own = handle.cluster.security  # PEM text in memory: written as the files a user has
        paths = []
        for name, pem in (("ca", own.tls_ca_file), ("cert", own.tls_client_cert)):
            paths.append(tmp_path / f"{name}.pem")
            paths[-1].write_text(pem)
        paths.append(tmp_path / "key.pem")
        paths[-1].write_text(own.tls_client_key)
        script = tmp_path / "client.py"
        script.write_text(CROSS_HOST_CLIENT)
        run = subprocess.run(
            ["ip", "netns", "exec", "hpcinv-n3", sys.executable, str(script), address]
            + [str(p) for p in paths],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        listener_log.removeHandler(collect)
        handle.close()
    assert out["source"] == "198.18.0.13", out  # host hpcinv-n3's own address
    assert out["own"] == 1, out  # positive control: the path and the credentials work
    # plain TCP to the TLS port: reset (the scheduler reads no TLS hello)
    assert out["plain"][0] == "CommClosedError" and out["plain"][2] == "ConnectionResetError", out
    # another CA: the client refuses the scheduler's certificate
    assert out["other_ca"][0] == "FatalCommClosedError", out
    assert out["other_ca"][2] == "SSLCertVerificationError", out
    # the run's CA with another CA's certificate: the scheduler refuses the client (the
    # client sees the connection closed, as EOF or the "unknown ca" alert)
    assert out["impostor"][0] in ("CommClosedError", "FatalCommClosedError"), out
    assert re.search("EOF occurred in violation of protocol|UNKNOWN_CA", out["impostor"][1]), out
    remote = "TLS handshake failed with remote 'tls://198.18.0.13:"
    assert any(remote in m and "CERTIFICATE_VERIFY_FAILED" in m for m in refusals), refusals


def test_an_ensembles_members_spread_over_the_hosts_on_the_fast_network(tmp_path, monkeypatch):
    """Three members, one tile, three worker jobs on three hosts: the tile gets a replica on
    each worker and member k's models go to replica k, so each host factors one member's
    models; the members equal the serial ensemble's. All of it over the second network
    (eth1, 198.19.0.0/24, the stand-in for a cluster's high-speed one): the workers listen on
    the interface --slurm-interface names, not on their hostname's address."""
    import socket

    from hpcinv.engine.cluster import ClusterHandle
    from hpcinv.engine.worker import worker_state

    seen = {}
    real_close = ClusterHandle.close

    def recording_close(self, fast=False):
        if self.owned and "states" not in seen:
            seen["scheduler"] = self.client.scheduler.address
            seen["hostnames"] = self.client.run(socket.gethostname)
            seen["states"] = self.client.run(worker_state)
        real_close(self, fast)

    monkeypatch.setattr(ClusterHandle, "close", recording_close)
    text = open("examples/paper-1.1.toml").read().replace("pretrain = true", "pretrain = false")
    cfg = tmp_path / "p11.toml"
    cfg.write_text(text)
    serial, slurm = tmp_path / "serial", tmp_path / "slurm"
    common = ["--iterations", "2", "--ensemble", "3"]
    assert main(["run", str(cfg), "--out", str(serial), *common]) == 0
    argv = ["run", str(cfg), "--out", str(slurm), *common, "--slurm", "--workers", "3"]
    argv += ["--threads-per-worker", "1", *MULTI, "--slurm-directive=--exclusive"]
    fast = ["--slurm-scheduler-host", FAST_ADDR, "--slurm-interface", "eth1"]
    assert main([*argv, *fast]) == 0  # the last --slurm-scheduler-host wins

    assert seen["scheduler"].startswith(f"tls://{FAST_ADDR}:"), seen
    assert sorted(seen["hostnames"].values()) == list(HOSTS), seen
    fast_hosts = {f"tls://198.19.0.1{i}" for i in (1, 2, 3)}
    assert {a.rsplit(":", 1)[0] for a in seen["states"]} == fast_hosts, seen
    nky = 11
    for address, state in seen["states"].items():
        host = seen["hostnames"][address]
        assert len(state["tiles"]) == 1, (host, state)  # the one tile, built on every host
        # at least its member's two iterations (a factorization per wavenumber each)
        assert state["factorizations"] >= 2 * nky, (host, state)
    # each host factored its own member's models alike (measured 33 each, 3 models x 11
    # wavenumbers); member 0's host also the final coverage (44)
    counts = sorted(state["factorizations"] for state in seen["states"].values())
    assert counts[0] == counts[1] and counts[2] - counts[0] in (0, nky), seen
    a = np.load(serial / "result.npz")["ensemble_models"]
    b = np.load(slurm / "result.npz")["ensemble_models"]
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert _summary(slurm)["ensemble"]["member_chi"] == _summary(serial)["ensemble"]["member_chi"]
