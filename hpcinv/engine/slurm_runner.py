"""One allocation, one cluster: ``srun -n N hpcinv run CONFIG --slurm-runner``.

Every task of the step runs the same command; dask-jobqueue's ``SLURMRunner`` gives task 0
the scheduler, task 1 the driver (the only one that returns from ``slurm_runner``) and the
rest one worker each. The scheduler file and the TLS certificates live in a directory of the
run directory named after the job and its restart count, so a requeued job never reads the
files of its previous attempt. Task 0 writes the certificates (readable by the user only) and
renames them into place; the other tasks wait for them.

Only the driver handles SIGUSR1 (Slurm's "walltime is near" signal, forwarded by srun to
every task): the scheduler and workers ignore it and stop when the driver shuts them down.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hpcinv.engine.cluster import ClusterHandle, worker_environment
from hpcinv.errors import HpcinvError
from hpcinv.files import atomic_write

log = logging.getLogger(__name__)

SCHEDULER_RANK, DRIVER_RANK = 0, 1
_CERT_FILES = ("ca.pem", "key.pem", "cert.pem")


def slurm_task() -> tuple[int, int, str, int]:
    """(rank, tasks, job id, restart count) of this Slurm task, or a clear error outside srun."""
    try:
        rank, ntasks = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
        job_id = os.environ["SLURM_JOB_ID"]
    except (KeyError, ValueError):
        raise HpcinvError(
            "--slurm-runner runs as the tasks of one job step: start it with "
            "`srun -n N hpcinv run CONFIG --out DIR --slurm-runner` inside an "
            "allocation (N >= 3: scheduler, driver, workers)"
        ) from None
    if ntasks < 3:
        raise HpcinvError(
            f"--slurm-runner needs at least 3 tasks (scheduler, driver, one "
            f"worker); this step has {ntasks} (srun -n 3 or more)"
        )
    return rank, ntasks, job_id, int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def slurm_runner(
    shared_directory: str | Path,
    *,
    tls: bool = True,
    wait_seconds: float = 300.0,
    interface: str | None = None,
) -> ClusterHandle:
    """Join the one-allocation cluster; returns (with a connected client) on the driver task
    only: the scheduler and worker tasks serve until the driver closes the handle, then exit.
    ``interface``: the network interface the scheduler and workers listen on (a cluster's
    high-speed network, e.g. ib0); None: the address of the host's name."""
    from dask_jobqueue.slurm import SLURMRunner
    from distributed import Client
    from distributed.core import rpc

    rank, ntasks, job_id, restart = slurm_task()
    directory = Path(shared_directory) / f".dask-{job_id}-{restart}"
    if rank != DRIVER_RANK:
        # srun forwards SIGUSR1 to every task; only the driver checkpoints on it
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    if rank == SCHEDULER_RANK:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    security = _shared_security(directory, rank == SCHEDULER_RANK, wait_seconds) if tls else None
    protocol = "tls" if tls else "tcp"
    threads = int(os.environ.get("SLURM_CPUS_PER_TASK", "1") or 1)
    if rank not in (SCHEDULER_RANK, DRIVER_RANK):
        os.environ.update(worker_environment(threads))  # before the worker's BLAS loads
        # a worker's link to a scheduler that shut down is logged with a traceback at INFO
        logging.getLogger("distributed.batched").setLevel(logging.WARNING)

    class _Runner(SLURMRunner):
        async def before_client_start(self):
            # the runner's own rpc has no TLS arguments; give it the run's credentials
            if security is not None:
                self.scheduler_comm = rpc(  # type: ignore[assignment]  # declared None
                    self.scheduler_address, connection_args=security.get_connection_args("client")
                )

    scheduler_options = {"dashboard_address": "127.0.0.1:0", "protocol": protocol}
    worker_options = {"nthreads": 1, "protocol": protocol, "death_timeout": 60}
    if security is not None:
        scheduler_options["security"] = worker_options["security"] = security
    if interface:
        scheduler_options["interface"] = worker_options["interface"] = interface
    log.info(
        "--slurm-runner: task %d of %d (%s)",
        rank,
        ntasks,
        {SCHEDULER_RANK: "scheduler", DRIVER_RANK: "driver"}.get(rank, "worker"),
    )
    runner = _Runner(
        scheduler_file=str(directory / "scheduler.json"),
        scheduler_options=scheduler_options,
        worker_options=worker_options,
    )
    # only the driver gets here; the other tasks exit inside the runner
    client = Client(runner, security=security)
    n_workers = ntasks - 2
    try:
        client.wait_for_workers(n_workers, timeout=wait_seconds)
    except Exception as exc:  # noqa: BLE001 - whatever kept them away, stop and say it
        client.close()
        runner.close()
        raise HpcinvError(
            f"--slurm-runner: {n_workers} workers did not join within "
            f"{wait_seconds:.0f} s ({exc or type(exc).__name__})"
        ) from None
    log.info(
        "--slurm-runner: %d workers x %d BLAS threads; dashboard %s",
        n_workers,
        threads,
        client.dashboard_link,
    )
    return ClusterHandle(client, _RunnerShutdown(client, runner, directory))


class _RunnerShutdown:
    """Closing the driver's cluster stops the workers, then the scheduler, then removes the
    step's scheduler file and certificates (the private key should not outlive the step)."""

    def __init__(self, client, runner, directory: Path):
        self.client, self.runner, self.directory = client, runner, directory

    def close(self, timeout: float | None = None):
        """Retire the workers, shut the scheduler down, remove the step's files; with a
        ``timeout`` (after a stop signal, which may have ended the other tasks too) ask the
        scheduler to stop but wait for it ``timeout`` seconds at most."""
        import shutil

        if timeout is not None:
            try:
                # scancel's SIGTERM ends every task, but SIGUSR1 only the driver's run: the
                # scheduler and workers ignore it and would serve until the walltime
                stopper = threading.Thread(target=self.client.shutdown, daemon=True)
                stopper.start()
                stopper.join(timeout)
                self.client.close(timeout=timeout)
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)
            return
        try:
            workers = list(self.client.scheduler_info().get("workers", {}))
            if workers:  # retiring first lets them leave without "stream closed" noise
                self.client.retire_workers(workers=workers, close_workers=True)
            self.client.shutdown()
        finally:
            self.runner.close()
            shutil.rmtree(self.directory, ignore_errors=True)


def _text_writer(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_text(text)

    return write


def _shared_security(directory: Path, create: bool, wait_seconds: float):
    """TLS credentials every task of the step shares: made by the scheduler task, read by all."""
    from distributed.security import Security

    paths = [directory / name for name in _CERT_FILES]
    if create:
        temporary = Security.temporary()  # a fresh CA and certificate, PEM text in memory
        pems = (temporary.tls_ca_file, temporary.tls_scheduler_key, temporary.tls_scheduler_cert)
        for path, pem in zip(paths, pems):
            # readable by the user only: the key lets anyone who reads it into the cluster
            atomic_write(path, _text_writer(pem), mode=0o600)
    deadline = time.monotonic() + wait_seconds
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            raise HpcinvError(
                f"--slurm-runner: the scheduler task wrote no certificates to "
                f"{directory} within {wait_seconds:.0f} s (is the run directory "
                f"on a file system all nodes see?)"
            )
        time.sleep(0.2)
    ca, key, cert = (str(p) for p in paths)
    # one certificate for every role: the client, the scheduler and the workers
    roles = {
        f"tls_{role}_{part}": path
        for role in ("client", "scheduler", "worker")
        for part, path in (("key", key), ("cert", cert))
    }
    return Security(tls_ca_file=ca, require_encryption=True, **roles)
