"""An ensemble of DIP runs into one run directory (``EnsembleRun``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import cast

import numpy as np

from hpcinv.driver.dip_run import DipRun, Hook
from hpcinv.driver.outputs import chi_of, field_notes, final_coverage, spread_summary
from hpcinv.driver.progress import Progress
from hpcinv.driver.result import result_arrays
from hpcinv.driver.signals import StopSignals
from hpcinv.errors import InversionError, RunInterrupted
from hpcinv.inversion import DipInversion, EnsembleInversion, IterationRecord
from hpcinv.inversion.ensemble import EnsembleHook
from hpcinv.report.summary import build_summary, mae_core

log = logging.getLogger("hpcinv")


class EnsembleRun(DipRun):
    """``ensemble.members`` DIP inversions run together into one run directory: one
    checkpoint store holding every member's state, result.npz with the members' models, their
    mean (``model``), standard deviation and exceedance probability, summary.json with each
    member's chi. ``hooks`` get (the EnsembleInversion, the step's records)."""

    def _inversion(self) -> DipInversion:
        self.ensemble = EnsembleInversion(self.problem, self.executor, self.config)
        return self.ensemble.members[0]

    def run(self, iterations: int | None, state: dict | None, hooks: Sequence[Hook]) -> dict:
        ensemble, problem = self.ensemble, self.problem
        members = len(ensemble.members)
        log.info(
            "DIP ensemble of %s: %d members (vary %s), %d data, %d cells, %s network on %s, "
            "%d tile(s), %d worker(s)",
            problem.name,
            members,
            self.config.ensemble.vary,
            problem.n_data,
            problem.model_grid.n_cells,
            type(self.inv.net).__name__,
            self.inv.device,
            len(problem.tiles),
            self.executor.n_workers,
        )
        if state is not None:
            ensemble.load_state_dict(state)
            log.info("resumed at ensemble step %d", ensemble.iteration)
        else:
            stage1 = self.run_dir.stage1_file
            ensemble.start(lambda k: stage1.with_name(f"{stage1.stem}-member{k}{stage1.suffix}"))
        total = self.config.inversion.iterations if iterations is None else iterations
        every = self.config.checkpoint.every
        with StopSignals() as signals:

            def checkpoint(ens: EnsembleInversion, records: list) -> None:
                if signals.received is not None:
                    self.save(None, stopped=f"interrupted by {signals.name}")
                    raise RunInterrupted(
                        f"received {signals.name}: checkpointed at ensemble step "
                        f"{ens.iteration} in {self.store.path}; continue with `hpcinv resume "
                        f"{self.run_dir.path}`"
                    )
                if ens.iteration % every == 0 and ens.iteration < total:
                    self.save(None)

            progress = Progress(self.config.output.progress, total, ensemble.iteration)

            def show(ens: EnsembleInversion, records: list) -> None:
                shown = next((r for r in records if r is not None), None)
                if shown is not None:
                    progress(_Step(ens.iteration), shown)

            def count(ens: EnsembleInversion, records: list) -> None:
                self._count_factorizations(self.inv, records[0])

            try:
                # an ensemble's hooks take (EnsembleInversion, records): see the class
                user_hooks = cast(Sequence[EnsembleHook], hooks)
                stopped = ensemble.run(total, hooks=[count, show, *user_hooks, checkpoint])
            except InversionError as exc:
                progress.close()
                self.save(None, final=True, stopped=f"error: {exc}")
                raise
            finally:
                progress.close()
            return self.save(None, final=True, stopped=stopped)

    def save(
        self, rec: IterationRecord | None, final: bool = False, stopped: str = "running"
    ) -> dict:
        """Checkpoint every member, then result.npz and summary.json of the ensemble."""
        ensemble, problem = self.ensemble, self.problem
        models = ensemble.models()
        model = models.mean(axis=0)
        self.store.save(
            ensemble.iteration,
            {**ensemble.state_dict(), "model": model},
            self.config.raw,
            self.config.sha256,
        )
        chi = []
        for member in ensemble.members:
            h = member.history
            chi.append(h.chi[-1] if len(h) else float("nan"))
        coverage = mc_dropout = None
        if final:
            # member 0's network: a single run's MC dropout, beside the ensemble's spread
            mc_dropout = self._mc_dropout(ensemble.members[0])
            dpred = self.executor.predict(model)
            r = (dpred - problem.dobs) / problem.uncertainty
            phi_d = 0.5 * float(r @ r)
            coverage = final_coverage(self.executor, model)
            chi = [
                chi_of(self.executor.predict(m_k), problem) if not np.isnan(c) else c
                for m_k, c in zip(models, chi)
            ]
        else:
            dpred = np.full(problem.n_data, np.nan)
            phi_d = 0.5 * problem.n_data * float(np.nanmean(chi)) if chi else float("nan")
        history = self.inv.history.as_dict()
        std = models.std(axis=0)
        threshold = self.config.ensemble.exceedance_resistivity
        p_below = None
        if threshold > 0:  # resistivity < threshold  <=>  ln(S/m) > -ln(threshold)
            p_below = (models > -np.log(threshold)).mean(axis=0)
        target = self.config.inversion.target_chi
        limit = 1.5 * max(target, 1.0)
        not_fitting = [k for k, c in enumerate(chi) if not c <= limit]
        if final and not_fitting:
            log.warning(
                "ensemble members %s end at chi %s, above %.2f: they did not fit the data; "
                "weigh the mean and spread with that in mind",
                not_fitting,
                [round(chi[k], 3) for k in not_fitting],
                limit,
            )
        counts = self.executor.counters()
        cells = np.ones(model.size, bool) if problem.core_mask is None else problem.core_mask.copy()
        if problem.active is not None:
            cells &= problem.active
        summary = build_summary(
            kind="dip",
            iterations=ensemble.iteration,
            phi_d=phi_d,
            n_data=problem.n_data,
            history=history,
            model=model,
            true_model=problem.true_model,
            core_mask=problem.core_mask,
            n_tiles=len(problem.tiles),
            n_workers=self.executor.n_workers,
            device=str(self.inv.device),
            config_sha256=self.config.sha256,
            solve_seconds=float(counts["factor_seconds"] + counts["solve_seconds"]),
            factorizations_per_iteration=self.factorizations_per_iteration,
            factorizations_per_tile_per_iteration=self.factorizations_per_tile,
            stopped=stopped,
            wall_seconds=time.perf_counter() - self.t_start,
            extra={
                "network": type(self.inv.net).__name__,
                "n_weights": self.inv.net.n_weights(),
                "problem": problem.name,
                "checkpoint_iteration": ensemble.iteration,
                "threads": self._threads(),
                "versions": self.versions,
                "reference_model": self.config.inversion.reference_value,
                "ensemble": {
                    "members": len(ensemble.members),
                    "vary": self.config.ensemble.vary,
                    "model": "the mean of the members' models",
                    "history": "member 0's (every member's chi in member_chi)",
                    "member_chi": chi,
                    "member_iterations": [len(m.history) for m in ensemble.members],
                    "member_stopped": list(ensemble.stopped),
                    "member_mae_core": [
                        mae_core(m_k, problem.true_model, problem.core_mask) for m_k in models
                    ],
                    "not_fitting": not_fitting,
                    "std_median_core": float(np.median(std[cells])),
                    "std_p90_core": float(np.percentile(std[cells], 90)),
                },
                **(
                    {}
                    if mc_dropout is None
                    else {"mc_dropout": {"member": 0, **spread_summary(mc_dropout, problem)}}
                ),
                **field_notes(problem),
            },
        )
        arrays = result_arrays(problem, model, dpred, history, coverage, mc_dropout)
        arrays |= {
            "ensemble_models": models,
            "ensemble_std": std,
            "ensemble_chi": np.asarray(chi, float),
            "ensemble_p_below": p_below,
        }
        self.run_dir.write_result(arrays)
        self.run_dir.write_summary(summary)
        return summary


class _Step:
    """What the progress display reads of an inversion: the step count."""

    def __init__(self, iteration: int):
        self.iteration = iteration
