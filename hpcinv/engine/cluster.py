"""Dask clusters: a local one (the embedded default), or an existing one by address or
scheduler file. SLURM (dask-jobqueue) plugs in here too.

Workers run one Dask thread each: MUMPS is not thread-safe, and a tile task is one big
factorization whose BLAS uses the cores. Dask's nanny would set OMP/OPENBLAS/MKL threads to
1 and ``MALLOC_TRIM_THRESHOLD_=65536``; both are set deliberately here: BLAS threads to the
cores each worker owns, and the trim threshold to 256 MiB, since trimming after every
task cost ~9% of an iteration on this machine, while large arrays are mmapped and go back
to the OS on free anyway.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from hpcinv.errors import HpcinvError

log = logging.getLogger(__name__)

MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024


def worker_environment(threads_per_worker: int) -> dict[str, str]:
    """Environment of worker processes: BLAS/OpenMP threads and the malloc trim threshold."""
    k = str(threads_per_worker)
    return {"OMP_NUM_THREADS": k, "OPENBLAS_NUM_THREADS": k, "MKL_NUM_THREADS": k,
            "MALLOC_TRIM_THRESHOLD_": str(MALLOC_TRIM_THRESHOLD)}


@dataclass
class ClusterHandle:
    """A connected client and, for a cluster this process started, the cluster to close."""

    client: object
    cluster: object | None = None

    @property
    def dashboard_link(self) -> str | None:
        return getattr(self.client, "dashboard_link", None)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(n_workers: int, threads_per_worker: int | None = None, *,
                  memory_limit: str | int = "auto", dashboard: bool = True) -> ClusterHandle:
    """Start ``n_workers`` worker processes on this machine, one Dask thread each."""
    import dask
    from distributed import Client, LocalCluster

    if n_workers < 1:
        raise HpcinvError(f"--workers {n_workers}: a local cluster needs at least one worker "
                          f"(--workers 0 runs serially)")
    cores = os.cpu_count() or 1
    threads = threads_per_worker or max(1, cores // n_workers)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(threads)}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0" if dashboard else None)
    client = Client(cluster)
    log.info("local Dask cluster: %d workers x %d BLAS threads; dashboard %s", n_workers,
             threads, client.dashboard_link)
    return ClusterHandle(client, cluster)


def connect(scheduler_address: str | None = None, scheduler_file: str | None = None,
            timeout: float = 60.0) -> ClusterHandle:
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
    log.info("connected to Dask scheduler %s (%d workers); dashboard %s",
             client.scheduler.address, len(client.scheduler_info()["workers"]),
             client.dashboard_link)
    return ClusterHandle(client)
