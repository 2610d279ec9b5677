"""Figures of a run: recovered (and true) model, chi and loss curves, observed vs predicted.

Drawn from ``result.npz`` and ``summary.json`` alone, with matplotlib's Agg backend (no
display needed). 2D lines get a section and pseudosections; 3D surveys depth slices, a
vertical section and a data cross-plot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from discretize import TensorMesh  # noqa: E402

from hpcinv.report.rundir import RunDirectory  # noqa: E402

CMAP = "Spectral_r"


def _mesh(result) -> TensorMesh:
    hs = [result[f"mesh_h{i}"] for i in range(3) if f"mesh_h{i}" in result.arrays]
    return TensorMesh(hs, origin=result["mesh_origin"])


def draw_report(run: RunDirectory) -> list[Path]:
    """Draw every figure of ``run`` into ``run.figures``; returns the files written."""
    result = run.read_result()
    summary = run.read_summary()
    run.figures.mkdir(parents=True, exist_ok=True)
    mesh = _mesh(result)
    files = [_models(run, result, mesh), _curves(run, summary), _data(run, result, mesh.dim)]
    return files


def _core_limits(result, mesh):
    core = result.get("core_mask")
    cc = mesh.cell_centers
    pts = cc[core.astype(bool)] if core is not None else cc
    return pts.min(axis=0), pts.max(axis=0)


def _models(run, result, mesh) -> Path:
    models = [("recovered", result["model"])]
    if "true_model" in result.arrays:
        models.append(("true", result["true_model"]))
    lo, hi = _core_limits(result, mesh)
    vmin = min(np.percentile(m, 1) for _, m in models)
    vmax = max(np.percentile(m, 99) for _, m in models)
    electrodes = result["electrodes"]
    if mesh.dim == 2:
        fig, axes = plt.subplots(len(models), 1, figsize=(10, 3.2 * len(models)), squeeze=False)
        for ax, (title, m) in zip(axes[:, 0], models):
            im = mesh.plot_image(m, ax=ax, pcolor_opts={"cmap": CMAP, "vmin": vmin, "vmax": vmax})[0]
            ax.plot(electrodes[:, 0], electrodes[:, 1], "kv", ms=3)
            ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1] + 5), title=f"{title} model",
                   xlabel="x (m)", ylabel="z (m)", aspect="equal")
            fig.colorbar(im, ax=ax, label="ln conductivity (S/m)", shrink=0.8)
    else:
        depths = np.linspace(hi[2], lo[2], 5)[1:4]
        fig, axes = plt.subplots(len(models), 4, figsize=(16, 3.6 * len(models)), squeeze=False)
        for row, (title, m) in zip(axes, models):
            for ax, depth in zip(row[:3], depths):
                k = int(np.argmin(np.abs(mesh.cell_centers_z - depth)))
                im = mesh.plot_slice(m, ax=ax, normal="Z", ind=k,
                                     pcolor_opts={"cmap": CMAP, "vmin": vmin, "vmax": vmax})[0]
                ax.plot(electrodes[:, 0], electrodes[:, 1], "k.", ms=2)
                ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]),
                       title=f"{title}, z = {mesh.cell_centers_z[k]:.0f} m", aspect="equal")
            j = int(np.argmin(np.abs(mesh.cell_centers_y)))
            im = mesh.plot_slice(m, ax=row[3], normal="Y", ind=j,
                                 pcolor_opts={"cmap": CMAP, "vmin": vmin, "vmax": vmax})[0]
            row[3].set(xlim=(lo[0], hi[0]), ylim=(lo[2], hi[2]),
                       title=f"{title}, y = {mesh.cell_centers_y[j]:.0f} m")
            fig.colorbar(im, ax=row[3], label="ln conductivity (S/m)", shrink=0.8)
    fig.tight_layout()
    path = run.figures / "model.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curves(run, summary) -> Path:
    hist = summary["history"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
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
    plt.close(fig)
    return path


def _data(run, result, dim) -> Path:
    dobs, dpred = result["dobs"], result["dpred"]
    if dim == 2:
        el, abmn = result["electrodes"], result["abmn"]
        x = lambda i: np.where(i >= 0, el[np.maximum(i, 0), 0], np.nan)  # noqa: E731
        src = np.nanmean([x(abmn[:, 0]), x(abmn[:, 1])], axis=0)
        rx = np.nanmean([x(abmn[:, 2]), x(abmn[:, 3])], axis=0)
        mid, sep = 0.5 * (src + rx), -0.5 * np.abs(rx - src)
        fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
        vals = [np.log10(np.abs(dobs)), np.log10(np.abs(dpred)), (dpred - dobs) / result["uncertainty"]]
        titles = ["observed log10|V|", "predicted log10|V|", "normalised residual (dpred - dobs)/sd"]
        lims = [(min(vals[0].min(), vals[1].min()), max(vals[0].max(), vals[1].max()))] * 2 + [(-3, 3)]
        for ax, v, title, (a, b) in zip(axes, vals, titles, lims):
            sc = ax.scatter(mid, sep, c=v, s=25, cmap="RdBu_r" if "resid" in title else CMAP,
                            vmin=a, vmax=b)
            ax.set(title=title, ylabel="pseudo-depth (m)")
            fig.colorbar(sc, ax=ax)
        axes[-1].set_xlabel("x (m)")
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.loglog(np.abs(dobs), np.abs(dpred), ".", ms=3)
        lim = [np.abs(dobs).min(), np.abs(dobs).max()]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlabel="|observed| (V)", ylabel="|predicted| (V)", title="data fit")
    fig.tight_layout()
    path = run.figures / "data.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
