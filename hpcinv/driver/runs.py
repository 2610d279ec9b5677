"""``hpcinv.run`` and ``hpcinv.resume``: a problem, an executor, an inversion, checkpoints and
the summary, wired once for the Python API and the command line alike.

A DIP run checkpoints every ``checkpoint.every`` iterations, on SIGTERM/SIGUSR1 (then it
stops with ``RunInterrupted``, exit code 75 on the command line) and at the end; after every
checkpoint it rewrites ``summary.json`` and ``result.npz``. ``resume`` continues from the
latest complete checkpoint exactly as an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack

from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import (
    RunConfig,
    config_changes,
    config_from_dict,
    dump_toml,
    load_config,
)
from hpcinv.driver.callbacks import Hook
from hpcinv.driver.cluster import ClusterChoice, make_executor
from hpcinv.driver.conventional_run import run_conventional_into
from hpcinv.driver.dip_run import DipRun
from hpcinv.driver.resolve import Resolved, resolve_config
from hpcinv.driver.result import Result
from hpcinv.errors import CheckpointError, HpcinvError, RunInterrupted
from hpcinv.problem import Problem, build_problem
from hpcinv.report.rundir import RunDirectory

log = logging.getLogger("hpcinv")


def run(
    config: RunConfig | str | Path,
    out: str | Path,
    *,
    iterations: int | None = None,
    overwrite: bool = False,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
    **where: Unpack[Where],
) -> Result:
    """Run the inversion ``config`` (a ``RunConfig`` or a run file's path) into the run
    directory ``out``; returns its ``Result``.

    Where tiles run: serially (``workers=0``), on a local Dask cluster of ``workers``
    processes with ``threads_per_worker`` CPUs each, on a running scheduler
    (``scheduler_address``/``scheduler_file``), on the workers of a Dask ``client`` you hold,
    or as ``cluster`` says (SLURM). None of these changes the numbers: the run file's
    ``physics.threads`` and ``network.threads`` fix what they depend on.
    ``iterations`` overrides inversion.iterations; ``overwrite`` replaces a run that ``out``
    holds; ``hooks`` are called after every DIP step with (member, record) for each member
    that stepped;
    ``before_checkpoint_rename`` between writing a checkpoint and renaming it into place.
    """
    config = _as_config(config)
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = _cluster_choice(where, run_dir)
    if run_dir.holds_a_run() and not overwrite:
        raise HpcinvError(
            f"{run_dir.path} already holds a run; choose another --out, "
            f"pass --resume to continue it or --overwrite to replace it"
        )
    t_start = time.perf_counter()
    problem = build_problem(config)
    if run_dir.holds_a_run():
        clear_run(run_dir)
    resolved = resolve_config(config, problem)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(_config_text(config), source=config.path)
    launch = Launch(run_dir, choice, iterations, t_start, hooks, before_checkpoint_rename)
    if config.inversion.kind == "conventional":
        _run_conventional_on(problem, resolved.config, launch)
    else:
        _run_dip_on(problem, resolved, launch, None)
    return Result(run_dir.path)


def resume(
    out: str | Path,
    *,
    iterations: int | None = None,
    force: bool = False,
    config: RunConfig | str | Path | None = None,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
    **where: Unpack[Where],
) -> Result:
    """Continue the run in ``out`` from its latest complete checkpoint until ``iterations``
    in total (default: the run file's); returns its ``Result``.

    The run file is DIR/config.toml (or ``config``); changes that alter the iterates since
    the checkpoint are refused, harmless ones (iterations, checkpoint cadence, tiles,
    thread counts, ...) need ``force``. Cluster arguments as for ``run``.
    """
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = _cluster_choice(where, run_dir)
    store = CheckpointStore(run_dir.checkpoint_path)
    if not store.exists():
        raise CheckpointError(
            f"{run_dir.path}: no checkpoint.zarr to resume from; start the "
            f"run with `hpcinv run CONFIG --out {run_dir.path}`"
        )
    store.clean_stale()
    state, attrs = store.load_latest()
    saved = config_from_dict(attrs["config"])
    current = _as_config(config) if config is not None else load_run_config(run_dir)
    harmless = _check_changes(saved, current, force)
    t_start = time.perf_counter()
    problem = build_problem(current)
    _check_octree_tiles(problem, harmless)
    resolved = resolve_config(current, problem)
    launch = Launch(run_dir, choice, iterations, t_start, hooks, before_checkpoint_rename)
    _run_dip_on(problem, resolved, launch, state)
    return Result(run_dir.path)


class Where(TypedDict, total=False):
    """Where a run's tiles run (the keyword arguments ``run`` and ``resume`` share): serially
    (``workers=0``), on a local Dask cluster of ``workers`` processes with
    ``threads_per_worker`` CPUs each, on a running scheduler (``scheduler_address`` or
    ``scheduler_file``), on the workers of a Dask ``client`` you hold, or as ``cluster``
    says (SLURM)."""

    workers: int
    threads_per_worker: int | None
    scheduler_address: str | None
    scheduler_file: str | None
    client: Any
    cluster: ClusterChoice | None


def _cluster_choice(where: Where, run_dir: RunDirectory) -> ClusterChoice:
    """Where tiles run, checked; an ``srun`` runner's tasks other than the driver's stop in
    ``join_runner``."""
    unknown = sorted(set(where) - set(Where.__annotations__))
    if unknown:  # what Python says of a keyword a function does not take
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    choice = where.get("cluster") or ClusterChoice(
        where.get("workers", 0),
        where.get("threads_per_worker"),
        where.get("scheduler_address"),
        where.get("scheduler_file"),
        client=where.get("client"),
    )
    choice.validate()
    choice.join_runner(run_dir.path)  # --slurm-runner: only the driver task goes on
    return choice


def _check_changes(saved: RunConfig, current: RunConfig, force: bool) -> list[str]:
    """The harmless changes of the run file since the checkpoint (they need ``force``);
    ``CheckpointError`` for changes that alter the iterates."""
    matter, harmless = config_changes(saved, current)
    if matter:
        raise CheckpointError(
            "the configuration changed in ways that alter the inversion since the checkpoint: "
            + "; ".join(matter)
            + ". Start a new run (another --out) instead"
        )
    if harmless and not force:
        raise CheckpointError(
            "the configuration changed since the checkpoint: "
            + "; ".join(harmless)
            + ". These are harmless: pass --force to resume with them"
        )
    return harmless


def _check_octree_tiles(problem: Problem, harmless: list[str]) -> None:
    """On octrees each tile has a mesh of its own: another tile count changes the data
    (~1%), not only the last bits, so it is refused even with --force."""
    changed = [line for line in harmless if line.startswith("physics.n_tiles")]
    if changed and any(t.mesh.kind == "octree" for t in problem.tiles):
        raise CheckpointError(
            f"{changed[0]}: this problem's tiles are octrees, each meshed around its own "
            f"electrodes, so the tile count changes the data (~1%); resume with the "
            f"checkpoint's physics.n_tiles or start a new run (another --out)"
        )


def load_run_config(run_dir: RunDirectory) -> RunConfig:
    """DIR/config.toml, with its relative paths (problem.data, mesh.topography,
    report.overlay) resolved against the run file it was copied from, as the run did."""
    config = load_config(run_dir.config_file)
    source = run_dir.config_source()
    return config if source is None else dataclasses.replace(config, path=str(source))


def clear_run(run_dir: RunDirectory) -> None:
    """Remove a previous run's outputs (only hpcinv's own files) from ``run_dir``."""
    for path in (run_dir.summary_file, run_dir.result_file, run_dir.stage1_file):
        path.unlink(missing_ok=True)
    shutil.rmtree(run_dir.checkpoint_path, ignore_errors=True)
    shutil.rmtree(run_dir.figures, ignore_errors=True)


def _as_config(config: RunConfig | str | Path) -> RunConfig:
    return config if isinstance(config, RunConfig) else load_config(config)


def _check_iterations(iterations: int | None) -> None:
    if iterations is not None and iterations < 0:
        raise HpcinvError(f"--iterations {iterations}: give 0 or more")


def _config_text(config: RunConfig) -> str:
    """The run file as given when ``config`` is that file's content, else its TOML."""
    if config.path is not None and Path(config.path).is_file():
        loaded = load_config(config.path)
        if loaded.sha256 == config.sha256:
            return Path(config.path).read_text()
    return dump_toml(config.raw)


@dataclasses.dataclass(frozen=True)
class Launch:
    """How a run is started (a DIP run the same new or resumed): its directory,
    where its tiles run, how many steps, when it began, the user's hooks, the crash-test
    pause between writing a checkpoint and renaming it."""

    run_dir: RunDirectory
    choice: ClusterChoice
    iterations: int | None
    t_start: float
    hooks: Sequence[Hook]
    before_rename: Callable[[], None] | None


def _run_conventional_on(problem: Problem, config: RunConfig, launch: Launch) -> dict:
    executor, handle = make_executor(
        problem, launch.choice, launch.run_dir.path, config.physics.threads
    )
    interrupted = False
    try:
        return run_conventional_into(problem, config, executor, launch.run_dir, launch.t_start)
    except RunInterrupted:
        interrupted = True
        raise
    finally:
        executor.close()
        if handle is not None:
            handle.close(fast=interrupted)


def _run_dip_on(problem: Problem, resolved: Resolved, launch: Launch, state: dict | None) -> dict:
    config, run_dir = resolved.config, launch.run_dir
    executor, handle = make_executor(problem, launch.choice, run_dir.path, config.physics.threads)
    interrupted = False
    try:
        dip = DipRun(
            problem,
            executor,
            config,
            run_dir,
            launch.t_start,
            before_rename=launch.before_rename,
            resolved=resolved,
        )
        return dip.fit(launch.iterations, state, launch.hooks)
    except RunInterrupted:
        interrupted = True
        raise
    finally:
        executor.close()
        if handle is not None:
            # after a stop signal the workers (and a runner's scheduler) may be gone with it
            handle.close(fast=interrupted)
