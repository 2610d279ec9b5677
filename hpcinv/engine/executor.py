"""One orchestration of a problem's tiles, mapped serially or on Dask workers.

``TileExecutor`` owns everything about an iteration that does not depend on where tiles run:
the model check, the 2.5D two-round partial data (a wavenumber split needs every tile's data
before any residual exists), the residuals, the pairwise sums, the counters and the per-tile
seconds. A ``TaskBackend`` supplies only how the same task functions (``engine.tasks``) are
mapped over tiles and how their results come back:

* ``SerialBackend`` (``engine.serial``) calls them here, one after another;
* ``DaskBackend`` (``engine.dask_executor``) submits them to the workers holding the tiles.

``Executor`` is the interface the inversion uses (``predict``, ``misfit_and_gradient``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from hpcinv.engine.tasks import (
    STAT_KEYS,
    pairwise_reduce,
    tile_jacobian,
    tile_jtvec,
    tile_misfit_and_gradient,
    tile_predict,
    tile_reserve,
    tile_sensitivity,
)
from hpcinv.errors import DataError
from hpcinv.problem import Problem

T = TypeVar("T")


class Executor(Protocol):
    """Forward data and the misfit gradient of a problem, wherever its tiles run.

    m: (n_cells,) float64 ln(S/m) on the model grid; d: (n_data,) V/A in the survey's order;
    phi = 0.5 ||W (d - dobs)||^2 with W = 1/uncertainty; g = dphi/dm (n_cells,).
    """

    problem: Problem
    #: seconds of the last ``misfit_and_gradient``: {"total": s, "per_tile": {index: s}}
    last_seconds: dict

    @property
    def n_workers(self) -> int: ...

    def predict(self, m: np.ndarray) -> np.ndarray: ...

    def misfit_and_gradient(self, m: np.ndarray) -> tuple[float, np.ndarray]: ...

    def misfit_and_gradient_many(
        self,
        models: Iterable[np.ndarray],
        count: int | None = None,
        consume: Callable[[int, float, np.ndarray], None] | None = None,
    ) -> list[tuple[float, np.ndarray]]: ...

    def counters(self) -> dict: ...

    def sensitivity(self, m: np.ndarray) -> dict[str, np.ndarray]: ...

    def jacobian(self, m: np.ndarray, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]: ...

    def jacobian_many(
        self, models: Sequence[np.ndarray], dtype: str = "float32"
    ) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def close(self) -> None: ...


class TaskBackend(Protocol):
    """How tile tasks are mapped and their results brought back (see the module docstring).

    ``map_tiles(func, args, replica)`` runs ``func(spec, *args, cache)`` for every tile, in
    tile order, and returns handles (``replica``: which copy of each tile, where a backend
    keeps several: model k of a batch uses replica k, so its factors stay where it began);
    ``gather`` turns handles into results; ``tree_sum`` sums results in ``pairwise_reduce``'s
    pairing. ``attempt(run)`` calls ``run(share)``, where ``share(array)`` ships an array
    once for every task (Dask: scattered); a backend that can lose shared data calls ``run``
    again with arrays inside the tasks.
    """

    @property
    def n_workers(self) -> int: ...

    def map_tiles(self, func: Callable[..., dict], args: tuple, replica: int = 0) -> list[Any]: ...

    def gather(self, handles: list[Any]) -> list[dict]: ...

    def tree_sum(self, handles: list[Any]) -> dict: ...

    def attempt(self, run: Callable[[Callable[[np.ndarray], Any]], T]) -> T: ...

    def close(self) -> None: ...


def check_model(problem: Problem, m: np.ndarray) -> np.ndarray:
    """m as float64 (n_cells,) with the inactive (air) cells at their fixed value, or
    ``DataError`` naming what is wrong."""
    m = np.asarray(m, dtype=np.float64)
    n = problem.model_grid.n_cells
    if m.shape != (n,):
        raise DataError(f"model has shape {m.shape}; the model grid has {n} cells")
    if not np.all(np.isfinite(m)):
        raise DataError("model contains non-finite values")
    return problem.fix_inactive(m)


def residuals(problem: Problem, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r = W (d - dobs) and v = W r = dphi/dd, W = 1 / uncertainty."""
    w = 1.0 / problem.uncertainty
    r = w * (d - problem.dobs)
    return r, w * r


class TileExecutor:
    """``predict(m)`` and ``misfit_and_gradient(m)`` of ``problem``, tiles run by ``backend``.

    Each tile is factored once per model; its factors serve both calls for the same model.
    """

    def __init__(self, problem: Problem, backend: TaskBackend):
        self.problem = problem
        self.backend = backend
        self._partial = any(spec.partial_data for spec in problem.tiles)
        self._totals = dict.fromkeys(STAT_KEYS[1:], 0)
        #: per tile: its latest task statistics (seconds, counts, where it ran)
        self.tile_stats: dict[int, dict] = {}
        #: per tile: factorizations since this executor began
        self.per_tile_factorizations: dict[int, int] = {}
        self.last_seconds: dict = {}
        #: models a tile keeps factors of (``misfit_and_gradient_many`` raises it)
        self._reserved = 1

    @property
    def n_workers(self) -> int:
        return self.backend.n_workers

    def predict(self, m: np.ndarray) -> np.ndarray:
        m = check_model(self.problem, m)
        return self.backend.attempt(lambda share: self._predict(share(m))[0])

    def misfit_and_gradient(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        m = check_model(self.problem, m)
        t0 = time.perf_counter()
        phi, total, seconds = self.backend.attempt(lambda share: self._misfit(share(m), share))
        for index, stats in total["tiles"].items():
            seconds[index] = seconds.get(index, 0.0) + stats["seconds"]
        self._record(total["tiles"])
        self.last_seconds = {"total": time.perf_counter() - t0, "per_tile": seconds}
        return phi, self.problem.mask_gradient(total["g"])

    def misfit_and_gradient_many(
        self,
        models: Iterable[np.ndarray],
        count: int | None = None,
        consume: Callable[[int, float, np.ndarray], None] | None = None,
    ) -> list[tuple[float, np.ndarray]]:
        """``misfit_and_gradient`` of several models (an ensemble's members), each exactly as
        alone, pipelined: each model's tile tasks are mapped as soon as the model is drawn
        from ``models`` (an iterator may compute the next model meanwhile, e.g. the next
        member's network pass), and ``consume(k, phi, g)`` gets model k's result as soon as
        it is in (e.g. that member's backward pass and update) while later models' tasks
        still run. ``count``: how many models (needed before the first is drawn; len of a
        list). Each tile keeps the factors of all of them, so a 2.5D split's second round
        refactors nothing. If a worker is lost, the models are recomputed but each is
        consumed once."""
        source = iter(models)
        if count is None:
            listed = list(source)
            count, source = len(listed), iter(listed)
        self._reserve(count)
        produced: list[np.ndarray] = []

        def model(k: int) -> np.ndarray:
            while len(produced) <= k:
                produced.append(check_model(self.problem, next(source)))
            return produced[k]

        results: dict[int, tuple[float, np.ndarray]] = {}
        seconds: dict[int, float] = {}
        t0 = time.perf_counter()

        def deliver(k: int, phi: float, total: dict, round_one: dict[int, float]) -> None:
            if k in results:  # delivered before a lost worker made the batch run again
                return
            for index, stats in total["tiles"].items():
                seconds[index] = (
                    seconds.get(index, 0.0) + round_one.get(index, 0.0) + stats["seconds"]
                )
            self._record(total["tiles"])
            results[k] = (phi, self.problem.mask_gradient(total["g"]))
            if consume is not None:
                consume(k, *results[k])

        def run(share) -> None:
            if self._partial:
                # round one of every model as it comes; round two of each once its residual
                # is known (the others' round one still running)
                firsts = []
                for k in range(count):
                    m = share(model(k))
                    firsts.append((m, self.backend.map_tiles(tile_predict, (m,), k)))
                seconds_handles = []
                for k, (m, handles) in enumerate(firsts):
                    d, round_one = self._data_of(self.backend.gather(handles))
                    r, v = residuals(self.problem, d)
                    second = self.backend.map_tiles(tile_jtvec, (m, share(v)), k)
                    seconds_handles.append((0.5 * float(r @ r), round_one, second))
                for k, (phi, round_one, handles) in enumerate(seconds_handles):
                    deliver(k, phi, self.backend.tree_sum(handles), round_one)
                return
            handles = []
            for k in range(count):
                m = share(model(k))
                handles.append(self.backend.map_tiles(tile_misfit_and_gradient, (m,), k))
            for k, h in enumerate(handles):
                total = self.backend.tree_sum(h)
                deliver(k, float(total["phi"]), total, {})

        self.backend.attempt(run)
        self.last_seconds = {"total": time.perf_counter() - t0, "per_tile": seconds}
        return [results[k] for k in range(count)]

    def _reserve(self, count: int) -> None:
        """Let every tile (each replica of it) keep the factors of ``count`` models."""
        if count > self._reserved:
            for replica in range(count):  # model k goes to replica k
                self.backend.gather(self.backend.map_tiles(tile_reserve, (count,), replica))
            self._reserved = count

    def sensitivity(self, m: np.ndarray) -> dict[str, np.ndarray]:
        """Per model-grid cell (n_cells,): ``coverage`` = sum_j |J_j| / uncertainty_j (the
        cumulative sensitivity) and ``diag`` = diag(J^T W^2 J), W = 1 / uncertainty, exact,
        from each tile's factors for ``m`` (the factors an iteration at ``m`` holds anyway).
        Air cells get 0."""
        m = check_model(self.problem, m)
        w = 1.0 / self.problem.uncertainty
        parts = self.backend.attempt(
            lambda share: self.backend.gather(
                self.backend.map_tiles(tile_sensitivity, (share(m), share(w)))
            )
        )
        for part in parts:
            self._record(part["tiles"])
        if self._partial:
            # the tiles hold wavenumber shares of every datum: sum them before taking |.|
            J = np.zeros((self.problem.n_data, m.size))
            for part in parts:
                J[part["rows"]] += part["J"]
            WJ = w[:, None] * J
            out = {"coverage": np.abs(WJ).sum(axis=0), "diag": (WJ * WJ).sum(axis=0)}
        else:
            out = pairwise_reduce(
                [{"coverage": p["coverage"], "diag": p["diag"]} for p in parts],
                lambda a, b: {k: a[k] + b[k] for k in a},
            )
        return {k: self.problem.mask_gradient(np.asarray(v, float)) for k, v in out.items()}

    def jacobian(self, m: np.ndarray, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
        """(d, J): the data (n_data,) float64 and J = dd/dm (n_data, n_cells) as ``dtype``
        at ``m``, from one factorization per tile (no solve beyond the forward's in the
        electrode basis). J is dense: n_data x n_cells x 4 bytes in float32 must fit here."""
        return self.jacobian_many([m], dtype)[0]

    def jacobian_many(
        self, models: Sequence[np.ndarray], dtype: str = "float32"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``jacobian`` of several models (an ensemble's members renewing their
        linearisations in the same step), each exactly as alone: every model's tile tasks
        are mapped before any is gathered, so they fill the workers together."""
        checked = [check_model(self.problem, m) for m in models]
        self._reserve(len(checked))

        def run(share) -> list[list[dict]]:
            handles = [
                self.backend.map_tiles(tile_jacobian, (share(m), dtype), k)
                for k, m in enumerate(checked)
            ]
            return [self.backend.gather(h) for h in handles]

        out = []
        for m, parts in zip(checked, self.backend.attempt(run)):
            d = np.zeros(self.problem.n_data)
            J = np.zeros((self.problem.n_data, m.size), dtype=dtype)
            for part in parts:
                self._record(part["tiles"])
                d[part["rows"]] += part["d"]
                J[part["rows"]] += part["J"]
            if self.problem.active is not None:
                J[:, ~self.problem.active] = 0.0
            out.append((d, J))
        return out

    def _predict(self, m_shared) -> tuple[np.ndarray, dict[int, float]]:
        """The data of all tiles (partial sums added, in tile order) and each tile's seconds."""
        return self._data_of(self.backend.gather(self.backend.map_tiles(tile_predict, (m_shared,))))

    def _data_of(self, parts: list[dict]) -> tuple[np.ndarray, dict[int, float]]:
        d = np.zeros(self.problem.n_data)
        seconds = {}
        for part in parts:
            d[part["rows"]] += part["d"]
            self._record(part["tiles"])
            seconds.update({i: s["seconds"] for i, s in part["tiles"].items()})
        return d, seconds

    def _misfit(self, m_shared, share) -> tuple[float, dict, dict[int, float]]:
        if self._partial:
            # residuals need every wavenumber's contribution: forward everywhere first; the
            # gradient round then reuses each tile's cached factors and fields
            d, seconds = self._predict(m_shared)
            r, v = residuals(self.problem, d)
            total = self.backend.tree_sum(self.backend.map_tiles(tile_jtvec, (m_shared, share(v))))
            return 0.5 * float(r @ r), total, seconds
        total = self.backend.tree_sum(self.backend.map_tiles(tile_misfit_and_gradient, (m_shared,)))
        return float(total["phi"]), total, {}

    def _record(self, tiles: dict[int, dict]) -> None:
        for index, stats in tiles.items():
            self.tile_stats[index] = stats
            for key in self._totals:
                self._totals[key] += stats[key]
            self.per_tile_factorizations[index] = (
                self.per_tile_factorizations.get(index, 0) + stats["factorizations"]
            )

    def counters(self) -> dict:
        """Since this executor began, summed over tiles and calls: factorizations, solved
        columns, factor-cache hits, factor and solve seconds; and factorizations per tile."""
        return {**self._totals, "per_tile_factorizations": dict(self.per_tile_factorizations)}

    def close(self) -> None:
        self.backend.close()
