"""Command-line options shared by the commands that run inversions: where the tiles run
(serial, a local cluster, a scheduler, SLURM) and the SLURM settings."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from hpcinv.config import RunConfig, SlurmConfig, load_site_profile, slurm_settings

if TYPE_CHECKING:
    from hpcinv.driver import ClusterChoice


def cluster_options(p: argparse.ArgumentParser) -> None:
    """Add the options that choose where the tiles run, and the SLURM settings, to ``p``."""
    _dask_options(p)
    _slurm_options(p)


def _dask_options(p: argparse.ArgumentParser) -> None:
    """Serial, a local Dask cluster or a running scheduler."""
    g = p.add_argument_group("cluster (default: serial, in this process)")
    g.add_argument(
        "--workers",
        type=int,
        default=0,
        help="start a local Dask cluster of N worker processes (0: serial)",
    )
    g.add_argument(
        "--threads-per-worker",
        type=int,
        default=None,
        help="CPUs per worker (default: physics.threads, the BLAS threads every "
        "tile uses; a count here changes no result)",
    )
    g.add_argument("--scheduler-address", help="connect to a running Dask scheduler")
    g.add_argument("--scheduler-file", help="connect through a Dask scheduler file")
    g.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the scheduler (default 60)",
    )


def _slurm_options(p: argparse.ArgumentParser) -> None:
    """Workers as SLURM jobs (--slurm) or one allocation (--slurm-runner), and their settings."""
    s = p.add_argument_group(
        "SLURM (--slurm: --workers N worker jobs through dask-jobqueue, --threads-per-worker "
        "CPUs each; settings from these flags, else the config's [slurm], else the site "
        "profile, else defaults)"
    )
    s.add_argument("--slurm", action="store_true", help="submit the workers as SLURM jobs")
    s.add_argument(
        "--slurm-runner",
        action="store_true",
        help="one allocation: run as every task of `srun -n N` (task 0 scheduler, "
        "task 1 driver, the rest workers)",
    )
    s.add_argument(
        "--site", help="site profile: a TOML file with a [slurm] table (default: $HPCINV_SITE)"
    )
    _slurm_worker_options(s)


def _slurm_worker_options(s: argparse._ArgumentGroup) -> None:
    """The worker jobs' resources, extra lines and how the driver reaches them."""
    s.add_argument("--slurm-partition", help="partition of the worker jobs")
    s.add_argument("--slurm-account", help="account of the worker jobs")
    s.add_argument("--slurm-memory", help="memory per worker job (default 4GiB)")
    s.add_argument(
        "--slurm-walltime",
        help="time limit per worker job (default 01:00:00); workers leave 5 min before it",
    )
    s.add_argument(
        "--slurm-directive",
        action="append",
        default=[],
        help="extra #SBATCH directive, e.g. --slurm-directive='--constraint=cpu' (repeatable)",
    )
    s.add_argument(
        "--slurm-prologue",
        action="append",
        default=[],
        help="shell line run before each worker, e.g. 'module load mumps' (repeatable)",
    )
    s.add_argument(
        "--slurm-wait-seconds",
        type=float,
        help="give up if the workers have not joined by then (default 300)",
    )
    s.add_argument(
        "--slurm-scheduler-host",
        help="address the scheduler binds (default: this host's); 127.0.0.1 for a one-node Slurm",
    )
    s.add_argument(
        "--slurm-interface",
        metavar="NAME",
        help="network interface the scheduler and workers listen on, e.g. ib0 for the "
        "high-speed network (default: the address of each host's name)",
    )
    s.add_argument(
        "--slurm-no-tls",
        action="store_true",
        help="plain TCP instead of TLS with per-run certificates (not on shared "
        "clusters: anyone reaching the port could run code as you)",
    )


def slurm_settings_from_args(
    args: argparse.Namespace, config: RunConfig | None, *, worker_flags: bool = True
) -> SlurmConfig:
    """The SLURM settings for this command: flags over the config over the site profile.

    ``worker_flags=False`` leaves out --slurm-directive/--slurm-prologue (worker-job lines),
    for the driver job of ``hpcinv submit``."""
    site_path = getattr(args, "site", None) or os.environ.get("HPCINV_SITE")
    site = load_site_profile(site_path) if site_path else None
    overrides = {
        "partition": getattr(args, "slurm_partition", None),
        "account": getattr(args, "slurm_account", None),
        "worker_memory": getattr(args, "slurm_memory", None),
        "worker_walltime": getattr(args, "slurm_walltime", None),
        "directives": tuple(getattr(args, "slurm_directive", ()) or ()) if worker_flags else (),
        "prologue": tuple(getattr(args, "slurm_prologue", ()) or ()) if worker_flags else (),
        "wait_seconds": getattr(args, "slurm_wait_seconds", None),
        "scheduler_host": getattr(args, "slurm_scheduler_host", None),
        "interface": getattr(args, "slurm_interface", None),
        "tls": False if getattr(args, "slurm_no_tls", False) else None,
    }
    return slurm_settings(config, site, overrides)


def cluster_from_args(args: argparse.Namespace, config: RunConfig | None = None) -> ClusterChoice:
    """The ``ClusterChoice`` the cluster flags describe."""
    from hpcinv.driver import ClusterChoice  # the driver brings torch and Dask: when run

    slurm = runner = None
    wants_slurm = getattr(args, "slurm", False)
    wants_runner = getattr(args, "slurm_runner", False)
    if wants_slurm or wants_runner:
        s = slurm_settings_from_args(args, config)
        if wants_slurm:
            slurm = {
                "partition": s.partition or None,
                "account": s.account or None,
                "memory": s.worker_memory,
                "walltime": s.worker_walltime,
                "job_directives": s.directives,
                "prologue": s.prologue,
                "wait_seconds": s.wait_seconds,
                "scheduler_host": s.scheduler_host or None,
                "interface": s.interface or None,
                "tls": s.tls,
            }
        if wants_runner:
            runner = {
                "tls": s.tls,
                "wait_seconds": s.wait_seconds,
                "interface": s.interface or None,
            }
    return ClusterChoice(
        getattr(args, "workers", 0) or 0,
        getattr(args, "threads_per_worker", None),
        getattr(args, "scheduler_address", None),
        getattr(args, "scheduler_file", None),
        getattr(args, "connect_timeout", 60.0),
        slurm,
        runner,
    )
