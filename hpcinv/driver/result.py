"""What a run leaves: ``result.npz`` (its schema is written here) and the ``Result`` the
Python API returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcinv.problem import Problem
from hpcinv.report.export import export_model
from hpcinv.report.rundir import RunDirectory, RunResult


def result_arrays(
    problem: Problem,
    model: np.ndarray,
    dpred: np.ndarray,
    history: dict[str, list[float]],
    coverage: np.ndarray | None = None,
    mc_dropout: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray | None]:
    """The arrays of result.npz (None entries are left out): model, true_model, core_mask,
    active, coverage (sum_j |dd_j/dm| / uncertainty_j at the final model) (n_cells,);
    cell_centers (n_cells, dim); dobs, dpred, uncertainty (n_data,);
    electrodes, abmn; mesh_h0.., mesh_origin (the physics mesh: a TreeMesh for octree
    problems); grid_h0.., grid_origin (the model grid, a TensorMesh whose cells, in
    discretize's order, the model's values are: the exports rebuild it); origin (field data:
    add it to local coordinates for the file's), overlay; history_<key> per iteration;
    mc_dropout_mean, mc_dropout_std (n_cells,) when ensemble.mc_dropout_samples > 0."""
    info = problem.info
    arrays: dict[str, np.ndarray | None] = {
        "model": model,
        "dpred": dpred,
        "dobs": problem.dobs,
        "uncertainty": problem.uncertainty,
        "cell_centers": problem.model_grid.cell_centers,
        "electrodes": problem.survey.electrodes,
        "abmn": problem.survey.abmn,
        "mesh_origin": problem.mesh.origin,
        "true_model": problem.true_model,
        "core_mask": problem.core_mask,
        "active": problem.active,
        "origin": info.origin,
        "overlay": info.overlay,
        "coverage": coverage,
        "mc_dropout_mean": None if mc_dropout is None else mc_dropout[0],
        "mc_dropout_std": None if mc_dropout is None else mc_dropout[1],
    }
    for i, h in enumerate(problem.mesh.h):
        arrays[f"mesh_h{i}"] = h
    grid = problem.model_grid.mesh
    for i, h in enumerate(grid.h):
        arrays[f"grid_h{i}"] = h
    arrays["grid_origin"] = grid.origin
    for key, values in history.items():
        arrays[f"history_{key}"] = np.asarray(values, float)
    return arrays


class Result:
    """A run directory's outcome: ``summary`` (summary.json), ``model`` (n_cells,) ln(S/m) on
    the model grid, ``history`` (per-iteration lists), ``arrays`` (all of result.npz),
    ``export(path)`` and ``report()`` (figures)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = RunDirectory(run_dir)
        self._arrays: RunResult | None = None

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Result({str(self.run_dir.path)!r}: {s['iterations']} iterations, "
            f"chi {s['chi']:.3f}, stopped: {s.get('stopped')})"
        )

    @property
    def path(self) -> Path:
        return self.run_dir.path

    @property
    def summary(self) -> dict:
        return self.run_dir.read_summary()

    @property
    def arrays(self) -> RunResult:
        if self._arrays is None:
            self._arrays = self.run_dir.read_result()
        return self._arrays

    @property
    def model(self) -> np.ndarray:
        return self.arrays["model"]

    @property
    def history(self) -> dict[str, list[float]]:
        return self.summary["history"]

    def export(self, path: str | Path) -> Path:
        """Write the model to ``path`` in the format its extension names: ``.csv``
        (x,[y,]z,log_conductivity,resistivity[,coverage] per ground cell), ``.vtr``
        (ParaView), ``.msh`` (UBC-GIF, 3D: also NAME.mod, resistivity, and
        NAME_<quantity>.mod), ``.nc`` or ``.zarr`` (xarray Dataset); details in
        ``hpcinv.report.export``. Returns ``path``."""
        export_model(self.arrays, path, run_dir=self.path)
        return Path(path)

    def report(self) -> list[Path]:
        """Draw the figures into DIR/figures; their paths."""
        from hpcinv.report.figures import draw_report

        return list(draw_report(self.run_dir))
