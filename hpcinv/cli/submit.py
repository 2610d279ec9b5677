"""``hpcinv submit``: render a driver batch script and hand it to ``sbatch``.

Rendering is pure (``render_driver_script`` turns a ``DriverJob`` into the script text), so
tests check scripts as strings. The script runs ``hpcinv run`` (or ``hpcinv resume`` when the
run directory already holds a checkpoint, as after a requeue), forwards Slurm's walltime signal
(``--signal=B:USR1@lead``) to hpcinv, which checkpoints and exits with 75, and then requeues
itself (``scontrol requeue``; ``sbatch`` of the saved script where requeueing is refused).
"""

from __future__ import annotations

import math
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hpcinv.config import memory_bytes
from hpcinv.errors import HpcinvError

SCRIPT_NAME = "hpcinv-driver.sbatch"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class DriverJob:
    """Everything the driver script says. Paths are absolute; commands are argument lists.

    mode: "serial" or "local" (the driver alone, or with a local Dask cluster in its job),
    "jobqueue" (workers are separate SLURM jobs) or "runner" (one allocation of
    ``tasks`` = workers + 2 tasks started by srun).
    """

    config: str
    run_dir: str
    workdir: str
    python: str
    mode: str = "serial"
    job_name: str = "hpcinv"
    time: str = "12:00:00"
    nodes: int = 1
    tasks: int = 1
    cpus: int = 2
    memory: str = "8GiB"
    partition: str = ""
    account: str = ""
    gpu_directive: str = ""
    signal_lead_seconds: int = 300
    directives: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    run_options: tuple[str, ...] = ()
    resume_options: tuple[str, ...] = ()

    @property
    def script_path(self) -> str:
        return str(Path(self.run_dir) / SCRIPT_NAME)


def render_driver_script(job: DriverJob, template: str | None = None) -> str:
    """The driver batch script for ``job`` (the packaged template unless one is given)."""
    if template is None:
        template = resources.files("hpcinv.cli").joinpath("templates/driver.sbatch").read_text()
    hpcinv = [job.python, "-m", "hpcinv"]
    launcher = ["srun"] if job.mode == "runner" else []
    run = launcher + hpcinv + ["run", job.config, "--out", job.run_dir, *job.run_options]
    resume = launcher + hpcinv + ["resume", job.run_dir, *job.resume_options]
    values = {
        "directives": "\n".join(f"#SBATCH {d}" for d in _directives(job)),
        "prologue": "\n".join(job.prologue),
        "cpus": str(job.cpus),
        "workdir": shlex.quote(job.workdir),
        "run_dir": shlex.quote(job.run_dir),
        "run_command": shlex.join(run),
        "resume_command": shlex.join(resume),
        "script": shlex.quote(job.script_path),
    }
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise HpcinvError(f"driver template: unknown placeholder(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _directives(job: DriverJob) -> list[str]:
    out = [
        f"--job-name={job.job_name}",
        f"--time={job.time}",
        f"--nodes={job.nodes}",
        f"--ntasks={job.tasks}",
        f"--cpus-per-task={job.cpus}",
        f"--mem={_slurm_memory(job.memory)}"
        if job.mode != "runner"
        else f"--mem-per-cpu={_slurm_memory(job.memory, per=job.cpus)}",
        f"--output={Path(job.run_dir) / 'slurm-driver-%j.out'}",
        "--open-mode=append",
        f"--signal=B:USR1@{job.signal_lead_seconds}",
        "--requeue",
    ]
    if job.partition:
        out.append(f"--partition={job.partition}")
    if job.account:
        out.append(f"--account={job.account}")
    if job.gpu_directive:
        out.append(job.gpu_directive)
    return out + list(job.directives)


def _slurm_memory(memory: str, per: int = 1) -> str:
    """Slurm's --mem value in MiB of a memory size read as Dask reads it ('8GiB' = 8192M,
    '8GB' = 7630M: ``hpcinv.config.memory_bytes``), divided by ``per`` (--mem-per-cpu)."""
    mib = memory_bytes(memory, "memory") / 2**20 / per
    return f"{max(1, math.ceil(mib))}M"


def build_driver_job(args, settings, run_options, resume_options) -> DriverJob:
    """A ``DriverJob`` from ``hpcinv submit``'s arguments and the resolved SLURM settings."""
    workers = args.workers or 0
    if args.slurm_runner:
        if workers < 1:
            raise HpcinvError(
                "--slurm-runner with submit needs --workers N (the worker tasks; "
                "the job gets N + 2 tasks: scheduler, driver, workers)"
            )
        mode, tasks = "runner", workers + 2
        cpus = args.threads_per_worker or args.cpus or 1
    else:
        if args.nodes > 1:
            raise HpcinvError(
                f"--nodes {args.nodes}: the driver job runs on one node unless "
                f"--slurm-runner starts all tasks in one allocation (with --slurm "
                f"the workers are jobs of their own)"
            )
        mode = "jobqueue" if args.slurm else ("local" if workers else "serial")
        tasks = 1
        cpus = args.cpus or (
            workers * (args.threads_per_worker or 1) if mode == "local" else settings.driver_cpus
        )
    if args.gpu and not settings.gpu_directive:
        raise HpcinvError(
            "--gpu: the site's slurm.gpu_directive is empty; set it (e.g. "
            "'--gres=gpu:1') in the config or the site profile"
        )
    run_dir = Path(args.out).resolve()
    return DriverJob(
        config=str(Path(args.config).resolve()),
        run_dir=str(run_dir),
        workdir=str(Path.cwd()),
        python=sys.executable,
        mode=mode,
        job_name=args.job_name or f"hpcinv-{Path(args.config).stem}",
        time=args.time or settings.driver_walltime,
        nodes=args.nodes,
        tasks=tasks,
        cpus=cpus,
        memory=args.memory or settings.driver_memory,
        partition=args.partition or settings.partition,
        account=args.account or settings.account,
        gpu_directive=settings.gpu_directive if args.gpu else "",
        signal_lead_seconds=args.signal_lead or settings.signal_lead_seconds,
        directives=tuple(settings.directives),
        prologue=tuple(settings.prologue),
        run_options=tuple(run_options),
        resume_options=tuple(resume_options),
    )


def forwarded_options(args) -> tuple[list[str], list[str]]:
    """The options of ``hpcinv run`` and ``hpcinv resume`` that submit passes through."""
    common: list[str] = []
    if args.iterations is not None:
        common += ["--iterations", str(args.iterations)]
    if args.slurm_runner:
        common.append("--slurm-runner")
    else:
        if args.workers:
            common += ["--workers", str(args.workers)]
        if args.threads_per_worker:
            common += ["--threads-per-worker", str(args.threads_per_worker)]
        if args.slurm:
            common.append("--slurm")
    flags = {
        "--site": args.site,
        "--slurm-partition": args.slurm_partition,
        "--slurm-account": args.slurm_account,
        "--slurm-memory": args.slurm_memory,
        "--slurm-walltime": args.slurm_walltime,
        "--slurm-wait-seconds": args.slurm_wait_seconds,
        "--slurm-scheduler-host": args.slurm_scheduler_host,
        "--slurm-interface": args.slurm_interface,
    }
    for flag, value in flags.items():
        if value is not None:
            common += [flag, str(Path(value).resolve()) if flag == "--site" else str(value)]
    for value in args.slurm_directive:
        common.append(f"--slurm-directive={value}")
    for value in args.slurm_prologue:
        common.append(f"--slurm-prologue={value}")
    if args.slurm_no_tls:
        common.append("--slurm-no-tls")
    run = common + (["--overwrite"] if args.overwrite else [])
    if args.ensemble is not None:  # resume reads K from the run directory's config
        run += ["--ensemble", str(args.ensemble)]
    return run, common


def sbatch(script_path: Path) -> str:
    """Submit ``script_path``; the job id, or Slurm's own message as an ``HpcinvError``."""
    try:
        out = subprocess.run(
            ["sbatch", "--parsable", str(script_path)], capture_output=True, text=True, timeout=120
        )
    except FileNotFoundError:
        raise HpcinvError(
            "sbatch is not on PATH: submit from a Slurm login node (or use "
            "--dry-run to print the script)"
        ) from None
    if out.returncode != 0:
        message = "; ".join(
            ln.removeprefix("sbatch: error: ") for ln in out.stderr.splitlines() if ln.strip()
        )
        raise HpcinvError(f"sbatch refused {script_path}: {message or out.returncode}")
    return out.stdout.strip().split(";")[0]
