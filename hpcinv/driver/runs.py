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

import numpy as np

from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import (
    RunConfig,
    config_changes,
    config_from_dict,
    dump_toml,
    load_config,
    with_3d_defaults,
)
from hpcinv.driver.cluster import ClusterChoice, make_executor
from hpcinv.driver.conventional_run import run_conventional_into
from hpcinv.driver.dip_run import DipRun, Hook
from hpcinv.driver.ensemble_run import EnsembleRun
from hpcinv.driver.result import Result
from hpcinv.errors import (
    CheckpointError,
    ConfigError,
    HpcinvError,
)
from hpcinv.problem import Problem, build_problem
from hpcinv.report.rundir import RunDirectory

log = logging.getLogger("hpcinv")


def run(
    config: RunConfig | str | Path,
    out: str | Path,
    *,
    iterations: int | None = None,
    workers: int = 0,
    threads_per_worker: int | None = None,
    scheduler_address: str | None = None,
    scheduler_file: str | None = None,
    client=None,
    cluster: ClusterChoice | None = None,
    overwrite: bool = False,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
) -> Result:
    """Run the inversion ``config`` (a ``RunConfig`` or a run file's path) into the run
    directory ``out``; returns its ``Result``.

    Where tiles run: serially (``workers=0``), on a local Dask cluster of ``workers``
    processes with ``threads_per_worker`` CPUs each, on a running scheduler
    (``scheduler_address``/``scheduler_file``), on the workers of a Dask ``client`` you hold,
    or as ``cluster`` says (SLURM). None of these changes the numbers: the run file's
    ``physics.threads`` and ``network.threads`` fix what they depend on.
    ``iterations`` overrides inversion.iterations; ``overwrite`` replaces a run that ``out``
    holds; ``hooks`` are called after every DIP iteration with (inversion, record);
    ``before_checkpoint_rename`` between writing a checkpoint and renaming it into place.
    """
    config = _as_config(config)
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = cluster or ClusterChoice(
        workers, threads_per_worker, scheduler_address, scheduler_file, client=client
    )
    choice.validate()
    choice.join_runner(run_dir.path)  # --slurm-runner: only the driver task goes on
    if run_dir.holds_a_run():
        if not overwrite:
            raise HpcinvError(
                f"{run_dir.path} already holds a run; choose another --out, "
                f"pass --resume to continue it or --overwrite to replace it"
            )
        clear_run(run_dir)
    t_start = time.perf_counter()
    problem = build_problem(config)
    config = resolve_reference(config, problem)
    _check_mc_dropout(config, problem)
    _check_initial_weights(config, problem)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(_config_text(config), source=config.path)
    if config.inversion.kind == "conventional":
        run_conventional_into(problem, config, run_dir, t_start)
    else:
        _run_dip_on(
            problem,
            config,
            run_dir,
            choice,
            iterations,
            t_start,
            None,
            hooks,
            before_checkpoint_rename,
        )
    return Result(run_dir.path)


def resume(
    out: str | Path,
    *,
    iterations: int | None = None,
    force: bool = False,
    config: RunConfig | str | Path | None = None,
    workers: int = 0,
    threads_per_worker: int | None = None,
    scheduler_address: str | None = None,
    scheduler_file: str | None = None,
    client=None,
    cluster: ClusterChoice | None = None,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
) -> Result:
    """Continue the run in ``out`` from its latest complete checkpoint until ``iterations``
    in total (default: the run file's); returns its ``Result``.

    The run file is DIR/config.toml (or ``config``); changes that alter the iterates since
    the checkpoint are refused, harmless ones (iterations, checkpoint cadence, tiles,
    thread counts, ...) need ``force``. Cluster arguments as for ``run``.
    """
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = cluster or ClusterChoice(
        workers, threads_per_worker, scheduler_address, scheduler_file, client=client
    )
    choice.validate()
    choice.join_runner(run_dir.path)
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
            + ". These are harmless: pass --force "
            "to resume with them"
        )
    t_start = time.perf_counter()
    problem = build_problem(current)
    current = resolve_reference(current, problem)
    _check_mc_dropout(current, problem)
    _run_dip_on(
        problem,
        current,
        run_dir,
        choice,
        iterations,
        t_start,
        state,
        hooks,
        before_checkpoint_rename,
    )
    return Result(run_dir.path)


def _check_mc_dropout(config: RunConfig, problem: Problem) -> None:
    """MC dropout samples need dropout (before anything is written: one clear error)."""
    if config.inversion.kind != "dip" or not config.ensemble.mc_dropout_samples:
        return
    effective = with_3d_defaults(config)[0] if problem.dim == 3 else config
    if effective.network.dropout == 0:
        raise ConfigError(
            "ensemble.mc_dropout_samples > 0 needs network.dropout > 0: without dropout every "
            "sample is the same model (3D runs default to no dropout: set network.dropout, "
            "e.g. 0.1)"
        )


def _check_initial_weights(config: RunConfig, problem: Problem) -> None:
    """network.initial_weights fits the network this run builds (before anything is
    written: one clear error)."""
    if config.inversion.kind != "dip" or not config.network.initial_weights:
        return
    import torch

    from hpcinv.inversion import build_generator, initial_state

    effective = with_3d_defaults(config)[0] if problem.dim == 3 else config
    rng = torch.get_rng_state()  # the DIP-Inv convention seeds torch's global generator
    try:
        net = build_generator(effective.network, problem.model_grid)
        initial_state(net, config.resolve_path(config.network.initial_weights))
    finally:
        torch.set_rng_state(rng)


def resolve_reference(config: RunConfig, problem: Problem) -> RunConfig:
    """``config`` with ``inversion.reference_model = "halfspace"`` replaced by ln of the best
    uniform half-space conductivity of the problem's data (field data: fitted when the
    problem was built); unchanged otherwise. A function of the data and the run file, so a
    resumed run gets the same value."""
    inversion = config.inversion
    if inversion.reference_model != "halfspace":
        return config
    notes = problem.info.notes or {}
    sigma = notes.get("halfspace_conductivity")
    if sigma is None:
        raise ConfigError(
            f"inversion.reference_model = 'halfspace' needs field data whose best uniform "
            f"half-space could be fitted; {problem.name} has none (synthetic cases and data "
            f"that no positive conductivity fits): give m_ref in ln(S/m)"
        )
    value = float(np.log(sigma))
    log.info("reference model: the best uniform half-space, %.4g S/m (ln %.3f)", sigma, value)
    return dataclasses.replace(
        config, inversion=dataclasses.replace(inversion, reference_model=value)
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


def _run_dip_on(
    problem: Problem,
    config: RunConfig,
    run_dir: RunDirectory,
    choice: ClusterChoice,
    iterations: int | None,
    t_start: float,
    state: dict | None,
    hooks: Sequence[Hook],
    before_rename: Callable[[], None] | None,
) -> dict:
    filled: dict = {}
    if problem.dim == 3:
        config, filled = with_3d_defaults(config)
        if filled:
            log.info(
                "3D defaults for what the run file leaves out: %s",
                ", ".join(f"{k} = {v}" for k, v in filled.items()),
            )
    executor, handle = make_executor(problem, choice, run_dir.path, config.physics.threads)
    try:
        kind = EnsembleRun if config.ensemble.members > 1 else DipRun
        dip = kind(problem, executor, config, run_dir, t_start, before_rename=before_rename)
        dip.defaults_3d = filled
        return dip.run(iterations, state, hooks)
    finally:
        executor.close()
        if handle is not None:
            handle.close()
