"""Where a run's tiles run: serially, a local Dask cluster, an existing scheduler, SLURM
worker jobs or the tasks of one allocation; and the executor for that choice."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcinv.engine import Executor, SerialExecutor
from hpcinv.engine.cluster import ClusterHandle
from hpcinv.errors import HpcinvError
from hpcinv.problem import Problem

log = logging.getLogger("hpcinv")


@dataclass
class ClusterChoice:
    """Where tiles run: serial (``workers`` 0), a local cluster of ``workers`` processes, an
    existing scheduler (``scheduler_address`` or ``scheduler_file``), SLURM worker jobs
    (``slurm``: ``SlurmWorkers`` settings, ``workers`` jobs) or the tasks of one allocation
    (``runner``: {"tls": bool, "wait_seconds": float, "interface": str | None}); or a
    Dask ``client`` the caller already holds (closed by the caller)."""

    workers: int = 0
    #: CPUs of each worker (local cluster, SLURM job); the BLAS threads of the tiles are the
    #: run file's physics.threads, so this changes no result. Default: physics.threads.
    threads_per_worker: int | None = None
    scheduler_address: str | None = None
    scheduler_file: str | None = None
    connect_timeout: float = 60.0
    slurm: dict | None = None
    runner: dict | None = None
    client: Any | None = None
    #: a cluster joined before the run started (the driver task of ``--slurm-runner``)
    handle: ClusterHandle | None = None

    def validate(self) -> None:
        if self.workers < 0:
            raise HpcinvError(f"--workers {self.workers}: give 0 (serial) or more")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise HpcinvError(f"--threads-per-worker {self.threads_per_worker}: give 1 or more")
        chosen = [
            bool(self.workers) and self.slurm is None,
            bool(self.scheduler_address),
            bool(self.scheduler_file),
            self.runner is not None,
            self.client is not None,
        ]
        if sum(chosen) > 1:
            raise HpcinvError(
                "choose one of --workers, --scheduler-address, --scheduler-file, "
                "--slurm-runner, a client (the runner's workers are the srun "
                "tasks)"
            )
        if self.slurm is not None and self.workers < 1:
            raise HpcinvError("--slurm needs --workers N (the number of worker jobs, >= 1)")

    @property
    def serial(self) -> bool:
        return not (
            self.workers
            or self.scheduler_address
            or self.scheduler_file
            or self.runner is not None
            or self.client is not None
            or self.handle is not None
        )

    def join_runner(self, run_path: str | Path) -> None:
        """``--slurm-runner``: the scheduler and worker tasks serve here and exit; the driver
        task returns with the cluster joined. Call before touching the run directory."""
        if self.runner is None or self.handle is not None:
            return
        from hpcinv.engine.slurm_runner import slurm_runner

        self.handle = slurm_runner(run_path, **self.runner)


def make_executor(
    problem: Problem, choice: ClusterChoice, run_path: str | Path, physics_threads: int
) -> tuple[Executor, ClusterHandle | None]:
    """(executor, cluster handle to close or None) for ``choice``. SLURM's TLS certificates
    and worker logs go to ``run_path`` (shared with the compute nodes)."""
    choice.validate()
    threads = choice.threads_per_worker or physics_threads
    if choice.threads_per_worker and choice.threads_per_worker < physics_threads:
        log.warning(
            "--threads-per-worker %d is below physics.threads = %d: each worker runs "
            "%d BLAS threads on fewer CPUs (the results are the same; the speed is "
            "not)",
            choice.threads_per_worker,
            physics_threads,
            physics_threads,
        )
    choice.join_runner(run_path)
    if choice.serial:
        return SerialExecutor(problem), None
    from hpcinv.engine.cluster import SlurmWorkers, connect, local_cluster, slurm_cluster
    from hpcinv.engine.dask_executor import DaskExecutor

    if choice.client is not None:
        handle = ClusterHandle(choice.client, owned=False)
    elif choice.handle is not None:
        handle = choice.handle
    elif choice.slurm is not None:
        spec = SlurmWorkers(
            jobs=choice.workers,
            cores=threads,
            log_directory=str(Path(run_path) / "slurm-logs"),
            **choice.slurm,
        )
        handle = slurm_cluster(spec, shared_directory=str(run_path))
    elif choice.workers:
        handle = local_cluster(choice.workers, threads)
    else:
        handle = connect(
            choice.scheduler_address, choice.scheduler_file, timeout=choice.connect_timeout
        )
    print(f"hpcinv: Dask dashboard: {handle.dashboard_link}", file=sys.stderr)
    try:
        return DaskExecutor(problem, handle.client), handle
    except BaseException:
        handle.close()
        raise
