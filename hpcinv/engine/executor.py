"""One orchestration of a problem's tiles, mapped serially or on Dask workers.

``TileExecutor`` owns everything about a call that does not depend on where tiles run: the
model check, the 2.5D two rounds (a wavenumber split needs every tile's partial data before
any residual exists), the residuals, the pairwise sums, the counts. A ``TaskBackend``
supplies only how the same task functions (``engine.tasks``) are mapped over tiles and how
their results come back:

* ``SerialBackend`` (``engine.serial``) calls them here, one after another;
* ``DaskBackend`` (``engine.dask_executor``) submits them to the workers holding the tiles.

Every call takes a batch of models (an ensemble's members; one model is a batch of one) and
returns a ``Batch``: the results in the models' order, each handed over as soon as it is in
(on Dask, every model's tasks are mapped before the first result is awaited, so the caller
can work on model 0's result while the workers still solve the others), and the ``Counts``
of what the call cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from hpcinv.engine.tasks import (
    STAT_KEYS,
    pairwise_reduce,
    tile_jacobian,
    tile_jtvec,
    tile_keep_jacobian,
    tile_kept_jtvec,
    tile_kept_jvec,
    tile_kept_sensitivity,
    tile_misfit_and_gradient,
    tile_predict,
    tile_reserve,
    tile_sensitivity,
)
from hpcinv.errors import DataError
from hpcinv.problem import Problem

log = logging.getLogger(__name__)

T = TypeVar("T")
Share = Callable[[np.ndarray], Any]


@dataclass
class Counts:
    """What one executor call (or a step's calls) cost, summed over tiles: factorizations,
    solved columns, factor-cache hits, factor and solve seconds; per tile its factorizations
    and task seconds (both rounds of a 2.5D split); ``seconds`` of wall time."""

    factorizations: int = 0
    solves: int = 0
    hits: int = 0
    factor_seconds: float = 0.0
    solve_seconds: float = 0.0
    seconds: float = 0.0
    per_tile_factorizations: dict[int, int] = field(default_factory=dict)
    per_tile_seconds: dict[int, float] = field(default_factory=dict)

    def add_tiles(self, tiles: dict[int, dict]) -> None:
        """Add the per-tile statistics a task reported (``engine.tasks``)."""
        for index, stats in tiles.items():
            for key in STAT_KEYS[1:]:
                setattr(self, key, getattr(self, key) + stats[key])
            self.per_tile_factorizations[index] = (
                self.per_tile_factorizations.get(index, 0) + stats["factorizations"]
            )
            self.per_tile_seconds[index] = self.per_tile_seconds.get(index, 0.0) + stats["seconds"]

    def __add__(self, other: Counts) -> Counts:
        out = Counts(
            **{k: getattr(self, k) + getattr(other, k) for k in (*STAT_KEYS[1:], "seconds")}
        )
        for name in ("per_tile_factorizations", "per_tile_seconds"):
            merged = dict(getattr(self, name))
            for index, value in getattr(other, name).items():
                merged[index] = merged.get(index, 0) + value
            setattr(out, name, merged)
        return out

    @property
    def max_tile_factorizations(self) -> int:
        return max(self.per_tile_factorizations.values(), default=0)


class Batch(Generic[T]):
    """The results of one batched call, in the models' order. Iterating hands each over as
    soon as it is in; indexing or ``list`` waits for what it needs. ``counts`` is complete
    once every result was taken."""

    def __init__(self, results: Iterator[T], count: int, counts: Counts):
        self._source, self._count, self.counts = results, count, counts
        self._taken: list[T] = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        k = 0
        while k < self._count:
            yield self[k]
            k += 1

    def __getitem__(self, k: int) -> T:
        while len(self._taken) <= k:
            self._taken.append(next(self._source))
        return self._taken[k]


class Executor(Protocol):
    """Forward data, misfits, gradients and Jacobians of a problem, wherever its tiles run.

    models: sequences of (n_cells,) float64 ln(S/m) on the model grid; d: (n_data,) V/A in the
    survey's order; phi = 0.5 ||W (d - dobs)||^2 with W = 1/uncertainty; g = dphi/dm
    (n_cells,); J = dd/dm (n_data, n_cells).
    """

    problem: Problem

    @property
    def n_workers(self) -> int: ...

    def predict(self, models: Sequence[np.ndarray]) -> Batch[np.ndarray]: ...

    def misfit_and_gradient(
        self, models: Sequence[np.ndarray]
    ) -> Batch[tuple[float, np.ndarray]]: ...

    def jacobian(
        self, models: Sequence[np.ndarray], dtype: str = "float32"
    ) -> Batch[tuple[np.ndarray, np.ndarray]]: ...

    def sensitivity(self, models: Sequence[np.ndarray]) -> Batch[dict[str, np.ndarray]]: ...

    def keep_jacobian(
        self, m: np.ndarray, dtype: str = "float32", counts: Counts | None = None
    ) -> KeptJacobian: ...

    def counters(self) -> dict: ...

    def close(self) -> None: ...


class TaskBackend(Protocol):
    """How tile tasks are mapped and their results brought back (see the module docstring).

    ``map_tiles(func, args, replica)`` runs ``func(spec, *args, cache)`` for every tile, in
    tile order, and returns handles (``replica``: which copy of each tile, where a backend
    keeps several: model k of a batch uses replica k, so its factors stay where it began);
    ``gather`` turns handles into results; ``tree_sum`` sums results in ``pairwise_reduce``'s
    pairing. ``sharers``: the ways to ship an array once for every task, in the order to
    try them (Dask: scattered, then inside the tasks); a call that raises one of
    ``lost_data`` (shared data lost with a worker) is continued with the next way.
    """

    sharers: tuple[Share, ...]
    lost_data: tuple[type[BaseException], ...]

    @property
    def n_workers(self) -> int: ...

    def map_tiles(self, func: Callable[..., dict], args: tuple, replica: int = 0) -> list[Any]: ...

    def gather(self, handles: list[Any]) -> list[dict]: ...

    def tree_sum(self, handles: list[Any]) -> dict: ...

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


class KeptJacobian:
    """J at one model, its rows kept by the tiles (``TileExecutor.keep_jacobian``).
    ``counts``: what making it and its products cost (summed into the one given)."""

    def __init__(
        self, executor: TileExecutor, m: np.ndarray, dtype: str, counts: Counts | None = None
    ):
        self.executor, self.m, self.dtype = executor, m, dtype
        self._shared: Any = None
        self._share_index = 0
        self.counts = Counts() if counts is None else counts
        #: the data at m (n_data,)
        self.d = self._call(lambda m: self._data(tile_keep_jacobian, (m, dtype)))

    def jvec(self, v: np.ndarray) -> np.ndarray:
        """J v (n_data,) for v (n_cells,) on the model grid."""
        v = np.asarray(v, dtype=np.float64)
        return self._call(
            lambda m: self._data(tile_kept_jvec, (m, self.dtype, self._share_vector(v)))
        )

    def jtvec(self, u: np.ndarray) -> np.ndarray:
        """Jᵀ u (n_cells,) for u (n_data,), zero at the inactive cells."""
        u = np.asarray(u, dtype=np.float64)

        def call(m):
            ex = self.executor
            handles = ex.backend.map_tiles(tile_kept_jtvec, (m, self.dtype, self._share_vector(u)))
            total = ex.backend.tree_sum(handles)
            ex._record(total["tiles"], self.counts)
            return ex.problem.mask_gradient(total["g"])

        return self._call(call)

    def sensitivity(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """``TileExecutor.sensitivity``'s answer at m for data weights w (n_data,), from the
        kept rows (no solve)."""
        w = np.asarray(w, dtype=np.float64)

        def call(m):
            ex = self.executor
            handles = ex.backend.map_tiles(
                tile_kept_sensitivity, (m, self.dtype, self._share_vector(w))
            )
            parts = ex.backend.gather(handles)
            for part in parts:
                ex._record(part["tiles"], self.counts)
            if ex._partial:
                J = np.zeros((ex.problem.n_data, ex.problem.model_grid.n_cells))
                for part in parts:
                    J[part["rows"]] += part["J"]
                WJ = w[:, None] * J
                summed = {"coverage": np.abs(WJ).sum(axis=0), "diag": (WJ * WJ).sum(axis=0)}
            else:
                summed = pairwise_reduce(
                    [{"coverage": p["coverage"], "diag": p["diag"]} for p in parts],
                    lambda a, b: {k: a[k] + b[k] for k in a},
                )
            return {k: ex.problem.mask_gradient(np.asarray(v, float)) for k, v in summed.items()}

        return self._call(call)

    def _data(self, task, args) -> np.ndarray:
        ex = self.executor
        return ex._data_of(ex.backend.map_tiles(task, args), self.counts)

    def _share_vector(self, x: np.ndarray) -> Any:
        return self.executor.backend.sharers[self._share_index](x)

    def _call(self, call):
        """``call(shared m)``; where the backend lost shared data with a worker, again with
        the next way of sharing (the tiles make their rows again where they are gone)."""
        sharers = self.executor.backend.sharers
        while True:
            if self._shared is None:
                self._shared = sharers[self._share_index](self.m)
            try:
                return call(self._shared)
            except self.executor.backend.lost_data:
                if self._share_index + 1 == len(sharers):
                    raise
                self._share_index += 1
                self._shared = None
                log.warning(
                    "a worker was lost with J's shared model; again with the arrays "
                    "inside the tasks"
                )


class TileExecutor:
    """The batched calls of ``problem``, tiles run by ``backend``. Each tile is factored
    once per model; its factors serve every call for the same model."""

    def __init__(self, problem: Problem, backend: TaskBackend):
        self.problem = problem
        self.backend = backend
        self._partial = any(spec.partial_data for spec in problem.tiles)
        self._totals = Counts()
        #: per tile: the statistics of its latest task (seconds, counts, where it ran)
        self.tile_stats: dict[int, dict] = {}
        #: models a tile keeps factors of (a batch of more raises it)
        self._reserved = 1

    @property
    def per_tile_factorizations(self) -> dict[int, int]:
        """Factorizations of each tile since this executor began."""
        return dict(self._totals.per_tile_factorizations)

    @property
    def n_workers(self) -> int:
        return self.backend.n_workers

    # --- the calls ---------------------------------------------------------------------
    def predict(self, models: Sequence[np.ndarray]) -> Batch[np.ndarray]:
        return self._batch(models, self._predictions)

    def misfit_and_gradient(self, models: Sequence[np.ndarray]) -> Batch[tuple[float, np.ndarray]]:
        """phi and g of each model, each exactly as alone; the 2.5D second round of model k
        is mapped as soon as its residual is known, while later models' first rounds run."""
        return self._batch(models, self._misfits)

    def jacobian(
        self, models: Sequence[np.ndarray], dtype: str = "float32"
    ) -> Batch[tuple[np.ndarray, np.ndarray]]:
        """(d, J) of each model: the data (n_data,) float64 and J = dd/dm (n_data, n_cells)
        as ``dtype``, from one factorization per tile (no solve beyond the forward's in the
        electrode basis). J is dense: n_data x n_cells x 4 bytes in float32 must fit here."""
        return self._batch(
            models,
            lambda ms, start, share, counts: self._jacobians(ms, start, share, counts, dtype),
        )

    def sensitivity(self, models: Sequence[np.ndarray]) -> Batch[dict[str, np.ndarray]]:
        """Per model-grid cell (n_cells,): ``coverage`` = sum_j |J_j| / uncertainty_j (the
        cumulative sensitivity) and ``diag`` = diag(J^T W^2 J), W = 1 / uncertainty, exact,
        from each tile's factors for the model. Air cells get 0."""
        return self._batch(models, self._sensitivities)

    def keep_jacobian(
        self, m: np.ndarray, dtype: str = "float32", counts: Counts | None = None
    ) -> KeptJacobian:
        """J = dd/dm at model m, kept where it is made: each tile keeps its rows of J in its
        process, and ``jvec``/``jtvec``/``sensitivity`` of the answer run as tasks there;
        only vectors travel (grid-3d: 1 GB of J took 4.3 s to gather on 2 workers). The
        answer's ``d`` is the data at m. A tile keeps the rows of one model: a later call
        for another model replaces them. A tile that lost its rows (a replacement worker)
        makes them again from m."""
        return KeptJacobian(self, check_model(self.problem, m), dtype, counts)

    def counters(self) -> dict:
        """Since this executor began, summed over tiles and calls: factorizations, solved
        columns, factor-cache hits, factor and solve seconds; and factorizations per tile."""
        t = self._totals
        return {
            **{k: getattr(t, k) for k in STAT_KEYS[1:]},
            "per_tile_factorizations": dict(t.per_tile_factorizations),
        }

    def close(self) -> None:
        self.backend.close()

    # --- one batch, its retries and its counts -----------------------------------------
    def _batch(self, models: Sequence[np.ndarray], rounds) -> Batch:
        checked = [check_model(self.problem, m) for m in models]
        self._reserve(len(checked))
        counts = Counts()
        return Batch(self._retrying(rounds, checked, counts), len(checked), counts)

    def _retrying(self, rounds, models: list[np.ndarray], counts: Counts) -> Iterator:
        """``rounds(models, start, share, counts)``'s results; a backend that lost shared
        data (a worker died holding it) continues from the first result not yet handed
        over, with the next way of sharing (arrays inside the tasks): a retry, the same
        numbers."""
        t0 = time.perf_counter()
        done = 0
        sharers = self.backend.sharers
        for attempt, share in enumerate(sharers):
            try:
                for result in rounds(models, done, share, counts):
                    done += 1
                    counts.seconds = time.perf_counter() - t0
                    yield result
                return
            except self.backend.lost_data:
                if attempt + 1 == len(sharers):
                    raise
                log.warning(
                    "a worker was lost with this call's shared data; recomputing from model "
                    "%d with the arrays inside the tasks",
                    done,
                )

    def _record(self, tiles: dict[int, dict], counts: Counts) -> None:
        counts.add_tiles(tiles)
        self._totals.add_tiles(tiles)
        self.tile_stats.update(tiles)

    def _reserve(self, count: int) -> None:
        """Let every tile (each replica of it) keep the factors of ``count`` models."""
        if count > self._reserved:
            for replica in range(count):  # model k goes to replica k
                self.backend.gather(self.backend.map_tiles(tile_reserve, (count,), replica))
            self._reserved = count

    # --- rounds ------------------------------------------------------------------------
    def _first_round(self, models, start: int, share: Share) -> list[tuple[Any, list]]:
        """(shared model, handles of its tile_predict tasks) of models[start:]."""
        out = []
        for k in range(start, len(models)):
            m = share(models[k])
            out.append((m, self.backend.map_tiles(tile_predict, (m,), k)))
        return out

    def _data_of(self, handles: list, counts: Counts) -> np.ndarray:
        """The data of all tiles, their partial sums added in tile order."""
        d = np.zeros(self.problem.n_data)
        for part in self.backend.gather(handles):
            d[part["rows"]] += part["d"]
            self._record(part["tiles"], counts)
        return d

    def _predictions(self, models, start, share, counts) -> Iterator[np.ndarray]:
        for _, handles in self._first_round(models, start, share):
            yield self._data_of(handles, counts)

    def _misfits(self, models, start, share, counts) -> Iterator[tuple[float, np.ndarray]]:
        if self._partial:
            # residuals need every wavenumber's contribution: forward everywhere first; the
            # gradient round then reuses each tile's cached factors and fields
            seconds = []
            for k, (m, handles) in enumerate(self._first_round(models, start, share), start):
                r, v = residuals(self.problem, self._data_of(handles, counts))
                second = self.backend.map_tiles(tile_jtvec, (m, share(v)), k)
                seconds.append((0.5 * float(r @ r), second))
            for phi, handles in seconds:
                total = self.backend.tree_sum(handles)
                self._record(total["tiles"], counts)
                yield phi, self.problem.mask_gradient(total["g"])
            return
        rounds = [
            self.backend.map_tiles(tile_misfit_and_gradient, (share(models[k]),), k)
            for k in range(start, len(models))
        ]
        for handles in rounds:
            total = self.backend.tree_sum(handles)
            self._record(total["tiles"], counts)
            yield float(total["phi"]), self.problem.mask_gradient(total["g"])

    def _jacobians(self, models, start, share, counts, dtype: str) -> Iterator:
        rounds = [
            self.backend.map_tiles(tile_jacobian, (share(models[k]), dtype), k)
            for k in range(start, len(models))
        ]
        for handles in rounds:
            d = np.zeros(self.problem.n_data)
            J = np.zeros((self.problem.n_data, self.problem.model_grid.n_cells), dtype=dtype)
            for part in self.backend.gather(handles):
                self._record(part["tiles"], counts)
                d[part["rows"]] += part["d"]
                J[part["rows"]] += part["J"]
            if self.problem.active is not None:
                J[:, ~self.problem.active] = 0.0
            yield d, J

    def _sensitivities(self, models, start, share, counts) -> Iterator[dict[str, np.ndarray]]:
        w = 1.0 / self.problem.uncertainty
        rounds = [
            self.backend.map_tiles(tile_sensitivity, (share(models[k]), share(w)), k)
            for k in range(start, len(models))
        ]
        for handles in rounds:
            parts = self.backend.gather(handles)
            for part in parts:
                self._record(part["tiles"], counts)
            yield {
                k: self.problem.mask_gradient(np.asarray(v, float))
                for k, v in self._sum_sensitivities(parts).items()
            }

    def _sum_sensitivities(self, parts: list[dict]) -> dict[str, np.ndarray]:
        if self._partial:
            # the tiles hold wavenumber shares of every datum: sum them before taking |.|
            J = np.zeros((self.problem.n_data, self.problem.model_grid.n_cells))
            for part in parts:
                J[part["rows"]] += part["J"]
            WJ = (1.0 / self.problem.uncertainty)[:, None] * J
            return {"coverage": np.abs(WJ).sum(axis=0), "diag": (WJ * WJ).sum(axis=0)}
        return pairwise_reduce(
            [{"coverage": p["coverage"], "diag": p["diag"]} for p in parts],
            lambda a, b: {k: a[k] + b[k] for k in a},
        )
