"""Dask workers as SLURM jobs, against a real Slurm (``bash slurm/local-cluster.sh start``).

Marked ``slurm``; where no Slurm answers, each test is skipped with that reason (visible in
pytest's summary), never silently. CI starts the local Slurm before the tests.
"""

import json
import subprocess

import pytest

from hpcinv.cli import main
from hpcinv.engine.cluster import SlurmWorkers, slurm_cluster
from hpcinv.errors import HpcinvError

from slurm_helpers import LOCAL, SLURM_MARKS, queue

pytestmark = SLURM_MARKS


def test_workers_are_slurm_jobs_and_tls_refuses_a_client_without_credentials(tmp_path):
    import logging
    import os
    import ssl
    import time

    from distributed import Client
    from distributed.comm.core import CommClosedError, FatalCommClosedError
    from distributed.security import Security

    spec = SlurmWorkers(
        jobs=2,
        memory="1GiB",
        walltime="00:05:00",
        wait_seconds=120,
        scheduler_host="127.0.0.1",
        log_directory=str(tmp_path),
    )
    handle = slurm_cluster(spec, shared_directory=str(tmp_path))
    # the scheduler runs in this process: its listener logs why it dropped a handshake
    # ("distributed" does not propagate to the root logger, so caplog would not see it)
    refusals = []

    class Collect(logging.Handler):
        def emit(self, record):
            refusals.append(record.getMessage())

    listener_log = logging.getLogger("distributed.comm.tcp")
    collect = Collect(logging.WARNING)
    listener_log.addHandler(collect)
    try:
        job_ids = handle.client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        assert len(job_ids) == 2 and all(j and j.isdigit() for j in job_ids.values())
        queued = queue()
        assert all(j in queued for j in job_ids.values())
        address = handle.client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        own = handle.cluster.security

        # positive control: the run's own credentials connect and see both workers, so the
        # refusals below are not a TLS setup that refuses everyone
        with Client(address, security=own, timeout=30) as ok:
            assert len(ok.scheduler_info()["workers"]) == 2

        # plain TCP to the TLS port: the scheduler resets it (it reads no TLS hello)
        with pytest.raises(CommClosedError, match="Connection reset by peer") as plain:
            Client(address.replace("tls://", "tcp://"), timeout=10)
        assert isinstance(plain.value.__cause__, ConnectionResetError)

        # TLS with another CA's credentials (a fresh, unrelated Security.temporary()): the
        # handshake fails on certificate verification, not on a missing TLS configuration
        # (a tls:// address without one fails with TypeError before connecting at all)
        other = Security.temporary()
        with pytest.raises(FatalCommClosedError, match="TLS certificate does not match") as err:
            Client(address, security=other, timeout=10)
        assert isinstance(err.value.__cause__, ssl.SSLCertVerificationError)
        # ... that is the client refusing the scheduler's certificate: it still passed against
        # a scheduler patched to skip client-certificate checks (measured). The scheduler's own
        # check: a client that trusts the run's CA but presents the other CA's certificate
        # (connected to that patched scheduler, so this part fails if the check is gone).
        # The client sees the connection closed, as EOF or as the scheduler's "unknown ca"
        # alert (22 vs 8 in 30 tries, measured); the scheduler logs the refused certificate.
        impostor = Security(
            tls_ca_file=own.tls_ca_file,
            tls_client_cert=other.tls_client_cert,
            tls_client_key=other.tls_client_key,
            require_encryption=True,
        )
        refusals.clear()
        with pytest.raises(
            CommClosedError, match="EOF occurred in violation of protocol|TLSV1_ALERT_UNKNOWN_CA"
        ):
            Client(address, security=impostor, timeout=10)
        refused = f"Listener on '{address}': TLS handshake failed"
        deadline = time.monotonic() + 5  # logged on the scheduler's thread, maybe just after
        while not any(refused in m and "CERTIFICATE_VERIFY_FAILED" in m for m in refusals):
            assert time.monotonic() < deadline, refusals
            time.sleep(0.05)
    finally:
        listener_log.removeHandler(collect)
        handle.close()


def test_run_with_slurm_workers_equals_serial(tmp_path):
    text = open("examples/paper-1.1.toml").read().replace("pretrain = true", "pretrain = false")
    cfg = tmp_path / "p11.toml"
    cfg.write_text(text)
    serial, slurm = tmp_path / "serial", tmp_path / "slurm"
    assert main(["run", str(cfg), "--out", str(serial), "--iterations", "3"]) == 0
    assert (
        main(
            [
                "run",
                str(cfg),
                "--out",
                str(slurm),
                "--iterations",
                "3",
                "--slurm",
                "--workers",
                "2",
                "--threads-per-worker",
                "1",
                *LOCAL,
            ]
        )
        == 0
    )
    a = json.loads((serial / "summary.json").read_text())
    b = json.loads((slurm / "summary.json").read_text())
    assert b["n_workers"] == 2
    assert b["history"]["phi_d"] == a["history"]["phi_d"] and b["chi"] == a["chi"]
    assert any((slurm / "slurm-logs").iterdir())  # the worker jobs' own logs


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"partition": "no-such-partition"}, "invalid partition"),
        ({"memory": "100000GiB"}, "not available|can not be satisfied"),
    ],
)
def test_bad_site_settings_fail_at_submit_with_slurms_words(tmp_path, settings, words):
    with pytest.raises(HpcinvError, match=f"Slurm refuses the worker job: .*({words})"):
        slurm_cluster(
            SlurmWorkers(
                jobs=1,
                wait_seconds=20,
                scheduler_host="127.0.0.1",
                log_directory=str(tmp_path),
                **settings,
            ),
            shared_directory=str(tmp_path),
        )
    assert "no-such" not in queue()


def test_slurm_needs_a_worker_count(tmp_path, capsys):
    assert main(["run", "examples/paper-1.1.toml", "--out", str(tmp_path / "x"), "--slurm"]) == 2
    assert "--slurm needs --workers" in capsys.readouterr().err


def test_workers_that_never_start_stop_the_driver_with_a_clear_error(tmp_path):
    # a job held until tomorrow: accepted by Slurm, never running
    spec = SlurmWorkers(
        jobs=1,
        wait_seconds=5,
        scheduler_host="127.0.0.1",
        job_directives=("--begin=now+1day",),
        log_directory=str(tmp_path),
    )
    with pytest.raises(HpcinvError, match="did not start within 5 s"):
        slurm_cluster(spec, shared_directory=str(tmp_path))
    assert "PENDING" not in queue()  # the held job was cancelled, not left behind


def test_a_worker_job_cancelled_mid_run_costs_a_retry_not_the_result(tmp_path):
    import os
    import threading
    import time

    import numpy as np

    import hpcinv
    from hpcinv.config import config_from_dict
    from hpcinv.engine.dask_executor import DaskExecutor
    from hpcinv.engine.worker import set_delay
    from hpcinv.inversion import Stepper

    cfg = config_from_dict(
        {
            "problem": {"case": "tiny-2d"},
            "physics": {"n_tiles": 4, "split": "sources"},
            "network": {"channels": [8, 4]},
            "inversion": {"learning_rate": 1e-3},
        }
    )
    problem = hpcinv.build_problem(cfg)
    reference = Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))
    reference.run(4)

    spec = SlurmWorkers(
        jobs=2,
        memory="1GiB",
        walltime="00:10:00",
        wait_seconds=120,
        scheduler_host="127.0.0.1",
        log_directory=str(tmp_path),
    )
    handle = slurm_cluster(spec, shared_directory=str(tmp_path))
    try:
        client = handle.client
        inv = Stepper.build(cfg, problem, DaskExecutor(problem, client))
        inv.run(1)
        client.run(set_delay, delay=0.6)  # every tile task now lasts >= 0.6 s
        job = sorted(client.run(lambda: os.environ["SLURM_JOB_ID"]).values())[0]

        def cancel_soon():
            time.sleep(0.8)  # inside iteration 2
            subprocess.run(["scancel", job], check=True)

        canceller = threading.Thread(target=cancel_soon)
        canceller.start()
        inv.run(4)
        canceller.join()
        assert job not in queue().split()
    finally:
        handle.close()
    assert inv.members[0].history.phi_d == reference.members[0].history.phi_d
    assert np.array_equal(inv.members[0].model(), reference.members[0].model())


def test_workers_past_their_lifetime_are_replaced_by_fresh_jobs(tmp_path):
    import os
    import time

    # a fixed scale(jobs=N) leaves the cluster empty once lifetimes end (measured); the
    # adaptive target with minimum = maximum = N submits a fresh job for each that left
    spec = SlurmWorkers(
        jobs=2,
        memory="1GiB",
        walltime="00:05:00",
        wait_seconds=120,
        scheduler_host="127.0.0.1",
        log_directory=str(tmp_path),
        lifetime=10,
        stagger=0,
    )
    handle = slurm_cluster(spec, shared_directory=str(tmp_path))
    try:
        client = handle.client
        first = set(client.run(lambda: os.environ["SLURM_JOB_ID"]).values())
        deadline = time.monotonic() + 150
        jobs = first
        while time.monotonic() < deadline:
            time.sleep(3)
            jobs = set(client.run(lambda: os.environ["SLURM_JOB_ID"]).values())
            if len(jobs) == 2 and not jobs & first:
                break
        assert len(jobs) == 2 and not jobs & first, (first, jobs)
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3  # the new workers work
    finally:
        handle.close()
