"""Figures of a run: recovered (and true) model, chi and loss curves, observed vs predicted.

Drawn from ``result.npz`` and ``summary.json`` alone on ``matplotlib.figure.Figure``
objects, not pyplot: no display is needed and matplotlib's backend is left as the user set
it (importing this module in a notebook does not stop its figures from showing). 2D lines
get a section and apparent-resistivity pseudosections (observed, predicted, normalised
residual); 3D surveys depth slices, a vertical section and an apparent-resistivity
cross-plot; both a histogram of the normalised misfit against N(0, 1). Ensembles and MC
dropout runs add ``spread.png``: the model beside its standard deviation.

Field data: coordinates are drawn as in the data file (``origin`` added back), air cells
(``active`` false) are left blank, 3D models get vertical sections along the survey's most
occupied electrode lines, and a 2D section gets the ``overlay`` polylines (interpreted
geology, NaN rows between polylines) drawn over it.

Coverage: where result.npz holds ``coverage``, recovered models are drawn with a grey veil
over the cells the data hardly see (coverage below ``LOW_COVERAGE`` of the largest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from discretize import TensorMesh
from matplotlib.figure import Figure

from hpcinv.readers import geometric_factors
from hpcinv.report.rundir import RunDirectory

CMAP = "Spectral_r"

#: a cell's coverage below this fraction of the largest: "the data hardly see it"
LOW_COVERAGE = 0.01
#: the veil over low-coverage cells: grey at this opacity
VEIL = {"cmap": "Greys", "vmin": 0.0, "vmax": 1.6, "alpha": 0.6}


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize, **kwargs):
    """pyplot.subplots without pyplot: (figure, axes) of a Figure of its own."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def low_coverage(result) -> np.ndarray | None:
    """(n_cells,) bool: ground cells whose coverage is below ``LOW_COVERAGE`` of the
    largest, or None when the result has no coverage."""
    coverage = result.get("coverage")
    if coverage is None:
        return None
    coverage = np.asarray(coverage, float)
    low = coverage < LOW_COVERAGE * coverage.max()
    active = result.get("active")
    return low if active is None else low & np.asarray(active, bool)


def _veil(mesh, low, ax, **where) -> None:
    """Grey over the low-coverage cells of the section/slice ``where`` (none in 2D)."""
    if low is None or not low.any():
        return
    values = np.where(low, 1.0, np.nan)
    limits, labels = (
        (ax.get_xlim(), ax.get_ylim()),
        (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()),
    )
    if mesh.dim == 2:
        mesh.plot_image(values, ax=ax, pcolor_opts=VEIL)
    else:
        mesh.plot_slice(values, ax=ax, pcolor_opts=VEIL, **where)
    ax.set(xlim=limits[0], ylim=limits[1], title=labels[0], xlabel=labels[1], ylabel=labels[2])


def _mesh(result) -> TensorMesh:
    """The model grid in the data file's coordinates (local + ``origin``)."""
    hs = [result[f"mesh_h{i}"] for i in range(3) if f"mesh_h{i}" in result.arrays]
    return TensorMesh(hs, origin=result["mesh_origin"] + _origin(result, len(hs)))


def _origin(result, dim) -> np.ndarray:
    origin = result.get("origin")
    return np.zeros(dim) if origin is None else np.asarray(origin, float)


def _shown(result, m):
    """The model with air cells (``active`` false) as NaN: drawn blank."""
    active = result.get("active")
    if active is None:
        return m
    return np.where(np.asarray(active, bool), m, np.nan)


def _line_positions(values, n) -> list[float]:
    """Up to ``n`` coordinates shared by the most electrodes (the survey's lines): each at
    least half as many as the most shared one, and three or more."""
    uniq, counts = np.unique(np.round(values, 3), return_counts=True)
    order = np.argsort(-counts, kind="stable")[:n]
    floor = max(3, 0.5 * counts.max())
    return sorted(float(uniq[i]) for i in order if counts[i] >= floor)


def draw_report(run: RunDirectory) -> list[Path]:
    """Draw every figure of ``run`` into ``run.figures``; returns the files written."""
    result = run.read_result()
    summary = run.read_summary()
    run.figures.mkdir(parents=True, exist_ok=True)
    mesh = _mesh(result)
    files = [_models(run, result, mesh), _curves(run, summary), _data(run, result, mesh.dim)]
    spreads = (
        ("ensemble_std", "ensemble", "spread.png"),
        ("mc_dropout_std", "MC dropout", "mc_dropout.png"),
    )
    for name, label, file in spreads:
        if result.get(name) is not None:
            files.append(_spread(run, result, mesh, name, label, file))
    return files


def _spread(run, result, mesh, name: str, label: str, file: str) -> Path:
    """The model and its spread side by side (``name``: the std in result.npz), and for an
    ensemble with ``exceedance_resistivity`` the share of members below it, with the
    low-coverage veil: what the members agree on, and where the data leave them free. The
    std of ln conductivity is the relative spread of conductivity (std / mean, for small
    spreads), so one colour scale reads the same for conductors and resistors."""
    model = _shown(result, result["model"])
    std = _shown(result, result[name])
    lo, hi = _core_limits(result, mesh)
    low = low_coverage(result)
    panels = [
        (
            "model" if label == "MC dropout" else "ensemble mean",
            model,
            CMAP,
            "ln conductivity (S/m)",
            None,
        ),
        (
            f"{label} standard deviation of ln conductivity",
            std,
            "magma_r",
            "relative spread (std / mean of S/m)",
            None,
        ),
    ]
    if label == "ensemble" and result.get("ensemble_p_below") is not None:
        panels.append(
            (
                "share of members below the exceedance resistivity",
                _shown(result, result["ensemble_p_below"]),
                "viridis",
                "P(resistivity < threshold)",
                (0.0, 1.0),
            )
        )
    n = len(panels)
    size = (10, 3.2 * n) if mesh.dim == 2 else (8, 4 * n)
    fig, axes = _subplots(n, 1, figsize=size)
    for ax, (title, m, cmap, unit, limits) in zip(axes, panels):
        finite = m[np.isfinite(m)]
        vmin, vmax = limits or (np.percentile(finite, 1), np.percentile(finite, 99))
        opts = {"cmap": cmap, "vmin": vmin, "vmax": vmax}
        if mesh.dim == 2:
            im = mesh.plot_image(m, ax=ax, pcolor_opts=opts)[0]
            _veil(mesh, low, ax)
            ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1] + 5), aspect="equal")
        else:  # a vertical section through the middle of the core
            j = int(np.argmin(np.abs(mesh.cell_centers_y - 0.5 * (lo[1] + hi[1]))))
            im = mesh.plot_slice(m, ax=ax, normal="Y", ind=j, pcolor_opts=opts)[0]
            _veil(mesh, low, ax, normal="Y", ind=j)
            ax.set(xlim=(lo[0], hi[0]), ylim=(lo[2], hi[2]))
            title += f", y = {mesh.cell_centers_y[j]:.0f} m"
        ax.set(title=title, xlabel="x (m)", ylabel="z (m)")
        fig.colorbar(im, ax=ax, label=unit, shrink=0.8)
    fig.tight_layout()
    path = run.figures / file
    fig.savefig(path, dpi=110)
    return path


def _core_limits(result, mesh):
    core = result.get("core_mask")
    cc = mesh.cell_centers
    pts = cc[core.astype(bool)] if core is not None else cc
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if "true_model" not in result.arrays:  # field data: whole core cells, up to the ground
        half = 0.5 * np.array([h.min() for h in mesh.h])
        lo, hi = lo - half, hi + half
        hi[-1] = mesh.nodes[:, -1].max()
    return lo, hi


def _models(run, result, mesh) -> Path:
    """model.png: the recovered model (and the true one, for synthetic runs) on one colour
    scale, as a 2D section, a 3D field model's slices and line sections, or a synthetic 3D
    model's slices and section."""
    models = [("recovered", _shown(result, result["model"]))]
    if "true_model" in result.arrays:
        models.append(("true", _shown(result, result["true_model"])))
    lo, hi = _core_limits(result, mesh)
    low = low_coverage(result)
    # one scale for recovered and true, so they compare by eye; the 1st and 99th
    # percentiles, so a few extreme cells do not wash out the rest
    vmin = min(np.nanpercentile(m, 1) for _, m in models)
    vmax = max(np.nanpercentile(m, 99) for _, m in models)
    electrodes = result["electrodes"] + _origin(result, mesh.dim)
    if mesh.dim == 2:
        overlay = result.get("overlay")
        if overlay is not None:  # the geology is drawn in the file's coordinates, as the mesh
            overlay = np.asarray(overlay, float) + _origin(result, 2)
        fig = _sections_2d(mesh, models, electrodes, overlay, lo, hi, vmin, vmax, low)
    elif "true_model" not in result.arrays:
        fig = _field_3d(mesh, models[0][1], electrodes, lo, hi, vmin, vmax, low)
    else:
        fig = _synthetic_3d(mesh, models, electrodes, lo, hi, vmin, vmax, low)
    fig.tight_layout()
    path = run.figures / "model.png"
    fig.savefig(path, dpi=110)
    return path


def _sections_2d(mesh, models, electrodes, overlay, lo, hi, vmin, vmax, low=None):
    """2D models, one section each over the core, with the electrodes and the ``overlay``
    polylines (file coordinates, or None) drawn on top."""
    opts = {"cmap": CMAP, "vmin": vmin, "vmax": vmax}
    fig, axes = _subplots(len(models), 1, figsize=(10, 3.2 * len(models)), squeeze=False)
    for ax, (title, m) in zip(axes[:, 0], models):
        im = mesh.plot_image(m, ax=ax, pcolor_opts=opts)[0]
        if title == "recovered":  # coverage is the recovered model's: the true one is known
            _veil(mesh, low, ax)
        ax.plot(electrodes[:, 0], electrodes[:, 1], "kv", ms=3)
        if overlay is not None:
            ax.plot(overlay[:, 0], overlay[:, 1], "k-", lw=1.2, label="interpreted geology")
            ax.legend(loc="lower right", fontsize=8)
        ax.set(
            xlim=(lo[0], hi[0]),
            ylim=(lo[1], hi[1] + 5),  # a margin above the ground
            title=f"{title} model",
            xlabel="x (m)",
            ylabel="z (m)",
            aspect="equal",
        )
        fig.colorbar(im, ax=ax, label="ln conductivity (S/m)", shrink=0.8)
    return fig


def _synthetic_3d(mesh, models, electrodes, lo, hi, vmin, vmax, low=None):
    """Synthetic 3D models (recovered, true), a row each: three depth slices over the core
    and a vertical section at y = 0, where the synthetic surveys are centred."""
    opts = {"cmap": CMAP, "vmin": vmin, "vmax": vmax}
    depths = np.linspace(hi[2], lo[2], 5)[1:4]  # the quarter depths, not the core's edges
    fig, axes = _subplots(len(models), 4, figsize=(16, 3.6 * len(models)), squeeze=False)
    for row, (title, m) in zip(axes, models):
        veil = low if title == "recovered" else None  # the true model is known everywhere
        for ax, depth in zip(row[:3], depths):
            k = int(np.argmin(np.abs(mesh.cell_centers_z - depth)))
            mesh.plot_slice(m, ax=ax, normal="Z", ind=k, pcolor_opts=opts)
            ax.plot(electrodes[:, 0], electrodes[:, 1], "k.", ms=2)
            ax.set(
                xlim=(lo[0], hi[0]),
                ylim=(lo[1], hi[1]),
                title=f"{title}, z = {mesh.cell_centers_z[k]:.0f} m",
                aspect="equal",
            )
            _veil(mesh, veil, ax, normal="Z", ind=k)
        j = int(np.argmin(np.abs(mesh.cell_centers_y)))
        im = mesh.plot_slice(m, ax=row[3], normal="Y", ind=j, pcolor_opts=opts)[0]
        row[3].set(
            xlim=(lo[0], hi[0]),
            ylim=(lo[2], hi[2]),
            title=f"{title}, y = {mesh.cell_centers_y[j]:.0f} m",
        )
        _veil(mesh, veil, row[3], normal="Y", ind=j)
        fig.colorbar(im, ax=row[3], label="ln conductivity (S/m)", shrink=0.8)
    return fig


def _field_3d(mesh, m, electrodes, lo, hi, vmin, vmax, low=None):
    """A 3D field model: three depth slices over the survey, then vertical sections (full
    width) along the two most occupied electrode lines of each horizontal direction."""
    opts = {"cmap": CMAP, "vmin": vmin, "vmax": vmax}
    depths = np.linspace(hi[2], lo[2], 5)[1:4]
    sections = [("X", x) for x in _line_positions(electrodes[:, 0], 2)] + [
        ("Y", y) for y in _line_positions(electrodes[:, 1], 2)
    ]
    fig = Figure(figsize=(15, 4.6 + 2.0 * len(sections)))
    grid = fig.add_gridspec(1 + len(sections), 3, height_ratios=[4.6] + [2.0] * len(sections))
    for col, depth in enumerate(depths):
        ax = fig.add_subplot(grid[0, col])
        k = int(np.argmin(np.abs(mesh.cell_centers_z - depth)))
        im = mesh.plot_slice(m, ax=ax, normal="Z", ind=k, pcolor_opts=opts)[0]
        ax.plot(electrodes[:, 0], electrodes[:, 1], "k.", ms=2)
        ax.set(
            xlim=(lo[0], hi[0]),
            ylim=(lo[1], hi[1]),
            aspect="equal",
            xlabel="x (m)",
            ylabel="y (m)",
            title=f"depth slice z = {mesh.cell_centers_z[k]:.0f} m",
        )
        _veil(mesh, low, ax, normal="Z", ind=k)
    fig.colorbar(im, ax=ax, label="ln conductivity (S/m)", shrink=0.8)
    for row, (normal, value) in enumerate(sections, start=1):
        ax = fig.add_subplot(grid[row, :])
        centres = mesh.cell_centers_x if normal == "X" else mesh.cell_centers_y
        j = int(np.argmin(np.abs(centres - value)))
        mesh.plot_slice(m, ax=ax, normal=normal, ind=j, pcolor_opts=opts)
        axis = 1 if normal == "X" else 0
        on = np.abs(electrodes[:, 1 - axis] - value) < 1e-3
        ax.plot(electrodes[on, axis], electrodes[on, 2], "kv", ms=3)
        ax.set(
            xlim=(lo[axis], hi[axis]),
            ylim=(lo[2], hi[2] + 10),
            aspect="equal",
            xlabel=f"{'y' if normal == 'X' else 'x'} (m)",
            ylabel="z (m)",
            title=f"section along the line {normal.lower()} = {value:.0f} m",
        )
        _veil(mesh, low, ax, normal=normal, ind=j)
    return fig


def _curves(run, summary) -> Path:
    hist = summary["history"]
    fig, axes = _subplots(1, 2, figsize=(11, 3.6))
    it = np.arange(1, len(hist["chi"]) + 1)
    axes[0].semilogy(it, hist["chi"], label="chi")
    axes[0].axhline(1.0, color="k", lw=0.8, ls="--", label="chi = 1")
    axes[0].set(xlabel="iteration", ylabel="chi = phi_d / (N/2)", title="data misfit")
    axes[0].legend()
    axes[1].semilogy(it, hist["phi_d"], label="phi_d")
    if any(hist["beta"]):
        ax2 = axes[1].twinx()
        ax2.plot(it, hist["beta"], color="C1", label="beta")
        ax2.set_ylabel("beta")
    axes[1].set(xlabel="iteration", ylabel="phi_d", title="misfit and beta")
    fig.tight_layout()
    path = run.figures / "convergence.png"
    fig.savefig(path, dpi=110)
    return path


def apparent_resistivity(result, d: np.ndarray) -> np.ndarray:
    """(n_data,) ohm m: k d for data ``d`` in V/A, k the analytic geometric factor of each
    array over a flat half-space (exact for flat ground; over topography an approximation,
    as in any pseudosection); NaN where k d is not a positive finite number."""
    k = geometric_factors(result["electrodes"], result["abmn"])
    with np.errstate(invalid="ignore"):
        rho = k * d
    return np.where(np.isfinite(rho) & (rho > 0), rho, np.nan)


def _misfit_histogram(ax, residual: np.ndarray) -> None:
    """Normalised residuals against N(0, 1): what chi = 1 should look like."""
    finite = residual[np.isfinite(residual)]
    edges = np.linspace(-4, 4, 33)
    ax.hist(np.clip(finite, -4, 4), bins=edges, density=True, color="0.6", label="data")
    g = np.linspace(-4, 4, 200)
    ax.plot(g, np.exp(-0.5 * g**2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0, 1)")
    ax.set(
        xlabel="(predicted - observed) / sd (clipped to ±4)",
        ylabel="density",
        title=f"normalised misfit: rms {np.sqrt(np.mean(finite**2)):.2f} over {finite.size} data",
    )
    ax.legend()


def _data(run, result, dim) -> Path:
    dobs, dpred = result["dobs"], result["dpred"]
    residual = (dpred - dobs) / result["uncertainty"]
    rho_obs, rho_pred = apparent_resistivity(result, dobs), apparent_resistivity(result, dpred)
    if dim == 2:
        el, abmn = result["electrodes"] + _origin(result, 2), result["abmn"]
        x = lambda i: np.where(i >= 0, el[np.maximum(i, 0), 0], np.nan)  # noqa: E731
        src = np.nanmean([x(abmn[:, 0]), x(abmn[:, 1])], axis=0)
        rx = np.nanmean([x(abmn[:, 2]), x(abmn[:, 3])], axis=0)
        mid, sep = 0.5 * (src + rx), -0.5 * np.abs(rx - src)
        fig, axes = _subplots(4, 1, figsize=(10, 11))
        vals = [np.log10(rho_obs), np.log10(rho_pred), residual]
        titles = [
            "observed apparent resistivity, log10 ohm m",
            "predicted apparent resistivity, log10 ohm m",
            "normalised residual (predicted - observed) / sd",
        ]
        both = np.concatenate(vals[:2])
        both = both[np.isfinite(both)]
        span = (both.min(), both.max()) if both.size else (0.0, 1.0)
        for ax, v, title, (a, b) in zip(axes, vals, titles, [span, span, (-3, 3)]):
            sc = ax.scatter(
                mid, sep, c=v, s=25, cmap="RdBu_r" if "resid" in title else CMAP, vmin=a, vmax=b
            )
            ax.set(title=title, ylabel="pseudo-depth (m)", xlim=(np.nanmin(mid), np.nanmax(mid)))
            fig.colorbar(sc, ax=ax)
        axes[2].set_xlabel("x (m)")
        _misfit_histogram(axes[3], residual)
    else:
        fig, (ax, hist) = _subplots(1, 2, figsize=(11, 5))
        ax.loglog(rho_obs, rho_pred, ".", ms=3)
        shown = rho_obs[np.isfinite(rho_obs)]
        if shown.size:
            lim = [shown.min(), shown.max()]
            ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(
            xlabel="observed apparent resistivity (ohm m)",
            ylabel="predicted apparent resistivity (ohm m)",
            title="data fit (flat half-space k)",
        )
        _misfit_histogram(hist, residual)
    fig.tight_layout()
    path = run.figures / "data.png"
    fig.savefig(path, dpi=110)
    return path
