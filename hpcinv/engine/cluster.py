"""Dask clusters: a local one (the embedded default), an existing one by address or
scheduler file, or workers submitted as SLURM jobs (dask-jobqueue).

Workers run one Dask thread each: MUMPS is not thread-safe, and a tile task is one big
factorization whose BLAS uses the cores. Dask's nanny would set OMP/OPENBLAS/MKL threads to
1 and ``MALLOC_TRIM_THRESHOLD_=65536``; both are set deliberately here: BLAS threads to the
cores each worker owns, and the trim threshold to 256 MiB, since trimming after every
task cost ~9% of an iteration on this machine, while large arrays are mmapped and go back
to the OS on free anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from hpcinv.errors import HpcinvError

log = logging.getLogger(__name__)

MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024


def worker_environment(threads_per_worker: int) -> dict[str, str]:
    """Environment of worker processes: BLAS/OpenMP threads and the malloc trim threshold."""
    k = str(threads_per_worker)
    return {
        "OMP_NUM_THREADS": k,
        "OPENBLAS_NUM_THREADS": k,
        "MKL_NUM_THREADS": k,
        "MALLOC_TRIM_THRESHOLD_": str(MALLOC_TRIM_THRESHOLD),
    }


#: seconds a closing client or cluster may wait for a scheduler that may be gone
FAST_CLOSE_SECONDS = 3


@dataclass
class ClusterHandle:
    """A connected client and, for a cluster this process started, the cluster to close.
    ``owned`` False: a client the caller gave, which ``close`` leaves open."""

    client: Any
    cluster: Any | None = None
    owned: bool = True

    @property
    def dashboard_link(self) -> str | None:
        return getattr(self.client, "dashboard_link", None)

    def close(self, fast: bool = False) -> None:
        """Close the client and the cluster this process started. ``fast``: after a stop
        signal, which the scheduler and workers may have received too (Slurm's scancel and
        walltime, kill -- -PGID): wait for none of them, a few seconds at most."""
        if not self.owned:
            return
        if fast:
            # the cluster first: a one-allocation runner's close still needs the client
            if self.cluster is not None:
                with contextlib.suppress(Exception):
                    self.cluster.close(timeout=FAST_CLOSE_SECONDS)
            with contextlib.suppress(Exception):
                self.client.close(timeout=FAST_CLOSE_SECONDS)
            return
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(
    n_workers: int,
    threads_per_worker: int | None = None,
    *,
    memory_limit: str | int = "auto",
    dashboard: bool = True,
) -> ClusterHandle:
    """Start ``n_workers`` worker processes on this machine, one Dask thread each."""
    import dask
    from distributed import Client, LocalCluster

    if n_workers < 1:
        raise HpcinvError(
            f"--workers {n_workers}: a local cluster needs at least one worker "
            f"(--workers 0 runs serially)"
        )
    cores = os.cpu_count() or 1
    threads = threads_per_worker or max(1, cores // n_workers)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(threads)}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0" if dashboard else None,
        )
    client = Client(cluster)
    # LocalCluster returns once its nannies answer; on a loaded machine a worker may register
    # with the scheduler later, and a tile plan made before would miss it
    client.wait_for_workers(n_workers, timeout=120)
    log.info(
        "local Dask cluster: %d workers x %d BLAS threads; dashboard %s",
        n_workers,
        threads,
        client.dashboard_link,
    )
    return ClusterHandle(client, cluster)


def connect(
    scheduler_address: str | None = None, scheduler_file: str | None = None, timeout: float = 60.0
) -> ClusterHandle:
    """Connect to a running scheduler by address or scheduler file."""
    from distributed import Client

    try:
        if scheduler_file is not None:
            if not os.path.exists(scheduler_file):
                raise HpcinvError(f"--scheduler-file {scheduler_file}: no such file")
            client = Client(scheduler_file=scheduler_file, timeout=timeout)
        else:
            client = Client(scheduler_address, timeout=timeout)
    except OSError as exc:
        where = scheduler_file or scheduler_address
        raise HpcinvError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
    info = client.scheduler_info()
    log.info(
        "connected to Dask scheduler %s (%d workers); dashboard %s",
        info.get("address"),
        len(info["workers"]),
        client.dashboard_link,
    )
    return ClusterHandle(client)


def _walltime_seconds(walltime: str) -> int:
    """Seconds of a Slurm time string: MM, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]."""
    days, _, rest = walltime.partition("-") if "-" in walltime else ("0", "", walltime)
    parts = [int(p) for p in rest.split(":")]
    if "-" in walltime:
        h, m, s = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        h, m, s = parts
    elif len(parts) == 2:
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = 0, parts[0], 0
    return ((int(days) * 24 + h) * 60 + m) * 60 + s


@dataclass(frozen=True)
class SlurmWorkers:
    """Dask workers as SLURM jobs (dask-jobqueue): one worker per job, one Dask thread each,
    ``cores`` BLAS/MUMPS threads (the job's CPUs)."""

    jobs: int
    cores: int = 1
    memory: str = "4GiB"
    walltime: str = "01:00:00"
    partition: str | None = None
    account: str | None = None
    job_directives: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    log_directory: str | None = None
    tls: bool = True
    wait_seconds: float = 300.0
    #: address the scheduler binds (default: the host's; 127.0.0.1 for a one-node Slurm)
    scheduler_host: str | None = None
    #: network interface the workers (and, without scheduler_host, the scheduler) listen
    #: on: a cluster's high-speed network (ib0); None: the address of the host's name
    interface: str | None = None
    #: seconds a worker serves before leaving for a fresh job (None: walltime - 5 min when
    #: the walltime is >= 10 min, else never); departures are staggered by ``stagger``
    lifetime: float | None = None
    stagger: float = 120.0


def slurm_cluster(spec: SlurmWorkers, *, shared_directory: str) -> ClusterHandle:
    """Submit ``spec.jobs`` worker jobs and wait until they have joined (or fail clearly).

    TLS by default: a scheduler reachable by other users of a shared cluster would otherwise
    run their code as you. The temporary certificates go to ``shared_directory`` (the run
    directory: it must be on a file system the compute nodes see).
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:  # pragma: no cover - a declared dependency
        raise HpcinvError("--slurm needs dask-jobqueue (pip install dask-jobqueue)") from None
    from distributed import Client
    from distributed.security import Security

    if spec.jobs < 1:
        raise HpcinvError(f"--workers {spec.jobs}: --slurm needs at least one worker job")
    env = worker_environment(spec.cores)
    prologue = [f"export {k}={v}" for k, v in env.items()] + list(spec.prologue)
    lifetime = spec.lifetime
    if lifetime is None and _walltime_seconds(spec.walltime) >= 600:
        lifetime = _walltime_seconds(spec.walltime) - 300
    worker_args = []
    if lifetime is not None:
        # workers leave (staggered) before Slurm kills them; their tiles move to the others
        # and the adaptive target below submits a fresh job for each one that left
        worker_args = ["--lifetime", f"{lifetime:g}s", "--lifetime-stagger", f"{spec.stagger:g}s"]
    kwargs: dict[str, Any] = dict(
        cores=1,
        processes=1,
        memory=spec.memory,
        walltime=spec.walltime,
        queue=spec.partition,
        account=spec.account,
        job_cpu=spec.cores,
        job_extra_directives=list(spec.job_directives),
        job_script_prologue=prologue,
        worker_extra_args=worker_args,
        log_directory=spec.log_directory,
        interface=spec.interface,
        # the dashboard stays on localhost (reach it through an ssh tunnel)
        scheduler_options={
            "dashboard_address": "127.0.0.1:0",
            **({"host": spec.scheduler_host} if spec.scheduler_host else {}),
        },
    )
    if spec.tls:
        kwargs.update(
            security=Security.temporary(), protocol="tls://", shared_temp_directory=shared_directory
        )
    try:
        cluster = SLURMCluster(**kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure of a bad directive: Slurm's words
        raise HpcinvError(f"could not set up SLURM workers: {exc}") from None
    script = cluster.job_script()
    log.info("SLURM worker job script:\n%s", script)
    problem = _sbatch_test_only(script)
    if problem:
        cluster.close()
        raise HpcinvError(
            f"Slurm refuses the worker job: {problem} (fix --slurm-partition, "
            f"--slurm-memory, --slurm-walltime or --slurm-directive)"
        )
    client = Client(cluster, security=cluster.security)
    try:
        cluster.scale(jobs=spec.jobs)
        client.wait_for_workers(spec.jobs, timeout=spec.wait_seconds)
        # a fixed scale() does not replace a job that ended; an adaptive target with
        # minimum = maximum does (checked against Slurm in tests/slurm): a worker past its
        # lifetime, or one the scheduler dropped when its host went silent (the TCP timeout,
        # distributed.comm.timeouts.tcp, 30 s; its job is cancelled 15 s later)
        cluster.adapt(minimum_jobs=spec.jobs, maximum_jobs=spec.jobs)
    except Exception as exc:  # noqa: BLE001 - whatever stopped the workers, cancel and say it
        detail = _slurm_failure(cluster) or str(exc) or type(exc).__name__
        client.close()
        cluster.close()
        raise HpcinvError(
            f"SLURM workers did not start within {spec.wait_seconds:.0f} s: "
            f"{detail} (check `squeue --me`, the partition, memory and time "
            f"limits; --slurm-wait-seconds waits longer)"
        ) from None
    log.info(
        "SLURM cluster: %d worker jobs x %d cores; dashboard %s",
        spec.jobs,
        spec.cores,
        client.dashboard_link,
    )
    return ClusterHandle(client, cluster)


def _sbatch_test_only(script: str) -> str | None:
    """Slurm's own message if it would refuse ``script`` (``sbatch --test-only``), else None:
    an unknown partition or too much memory fails here, before anything waits for workers."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(script)
        f.flush()
        try:
            out = subprocess.run(
                ["sbatch", "--test-only", f.name], capture_output=True, text=True, timeout=60
            )
        except FileNotFoundError:
            return "sbatch is not on PATH (is this a Slurm login node?)"
        except subprocess.TimeoutExpired:
            return None  # a slow controller is not a refusal; the worker wait decides
    if out.returncode == 0:
        return None
    lines = [ln.removeprefix("sbatch: error: ") for ln in out.stderr.splitlines() if ln.strip()]
    return "; ".join(lines) or f"sbatch --test-only exited with {out.returncode}"


def _slurm_failure(cluster) -> str | None:
    """Slurm's own message for a worker job that could not be submitted, if any."""
    for job in getattr(cluster, "workers", {}).values():
        exc = getattr(job, "_exception", None) or getattr(job, "exception", None)
        if exc:
            return str(exc)
    return None
