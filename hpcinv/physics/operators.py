"""Model-independent operators of a tile's nodal DC problem.

With sigma the cell conductivities (S/m), the nodal system matrix of SimPEG's
``Simulation2DNodal`` (per wavenumber k) and ``Simulation3DNodal`` with Robin boundaries is

    A_k(sigma) = G^T diag(Be sigma) G + k^2 diag(Bn sigma) + diag(Bbc_k sigma)

(no k term in 3D), linear in sigma: Be maps cells to the diagonal edge inner product (diagonal
on a TensorMesh), Bn = aveN2CC^T diag(vol) gives SimPEG's nodal mass ``MnSigma`` and Bbc_k
is SimPEG's Robin boundary term ``_AvgBC[k]``. Linearity gives the adjoint gradient in closed
form for all sources at once (see ``TilePhysics``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hpcinv.tiles import TileSpec


@dataclass(eq=False)
class TileOperators:
    """Everything of a tile that does not depend on the model.

    G: (n_edges, n_nodes) nodal gradient; Be: (n_edges, n_cells); Bn: (n_nodes, n_cells);
    Bbc: one (n_nodes, n_cells) Robin term per wavenumber (one entry in 3D);
    ky, ky_weights: (n_k,) wavenumbers and weights ([0], [1] in 3D);
    Q: (n_nodes, n_src) sparse source term for 1 A; Pd: (n_data, n_nodes) sparse receiver
    interpolation (M - N); datum_source: (n_data,) local source of each datum;
    projection: model grid -> tile cells, or None for the identity.
    """

    G: sp.csr_matrix
    GT: sp.csr_matrix
    Be: sp.csr_matrix
    Bn: sp.csr_matrix | None
    Bbc: list[sp.csr_matrix]
    ky: np.ndarray
    ky_weights: np.ndarray
    Q: sp.csc_matrix
    Pd: sp.csr_matrix
    datum_source: np.ndarray
    projection: sp.csr_matrix | None
    n_cells: int

    @property
    def n_nodes(self) -> int:
        return self.G.shape[1]

    def system_matrices(self, sigma: np.ndarray) -> list[sp.csr_matrix]:
        """A_k(sigma) for each wavenumber (one matrix in 3D)."""
        stiffness = self.GT @ sp.diags(self.Be @ sigma) @ self.G
        out = []
        for k, Bbc in zip(self.ky, self.Bbc):
            diag = Bbc @ sigma
            if self.Bn is not None:
                diag = diag + k * k * (self.Bn @ sigma)
            out.append((stiffness + sp.diags(diag)).tocsr())
        return out


def _interpolation(mesh, points: np.ndarray) -> sp.csr_matrix:
    """Rows interpolating nodal values at ``points``; NaN rows (remote poles) are zero."""
    out = sp.csr_matrix((points.shape[0], mesh.n_nodes))
    real = ~np.isnan(points).any(axis=1)
    if real.any():
        P = mesh.get_interpolation_matrix(points[real], location_type="nodes")
        out = sp.csr_matrix(sp.eye(points.shape[0], format="csr")[:, real] @ P)
    return out


def build_operators(spec: TileSpec) -> TileOperators:
    """Build a tile's operators from its spec (on a worker: no global objects needed)."""
    import warnings

    from pymatsolver import SolverLU
    from simpeg.electromagnetics.static import resistivity as dc

    mesh = spec.mesh.to_mesh()
    n_cells = mesh.n_cells
    ones = np.ones(n_cells)
    G = mesh.nodal_gradient.tocsr()
    Be = sp.csr_matrix(mesh.get_edge_inner_product_deriv(ones)(np.ones(mesh.n_edges)))
    if spec.dim == 2:
        if spec.ky_points is None:
            raise ValueError(f"tile {spec.index}: a 2.5D tile needs wavenumbers (ky_points)")
        # nky=3 is the least SimPEG accepts; its own quadrature is unused here
        with warnings.catch_warnings():  # SimPEG warns about SolverLU, which is never used here
            warnings.simplefilter("ignore")
            sim = dc.Simulation2DNodal(mesh, nky=3, bc_type="Robin", solver=SolverLU)
        ky = np.asarray(spec.ky_points, float)
        ky_weights = np.asarray(spec.ky_weights, float)
        Bbc = []
        for k in ky:
            sim.setBC(ky=k)
            Bbc.append(sp.csr_matrix(sim._AvgBC[k]))
        Bn = sp.csr_matrix(mesh.average_node_to_cell.T @ sp.diags(mesh.cell_volumes))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = dc.Simulation3DNodal(mesh, bc_type="Robin", solver=SolverLU)
        sim.setBC()
        ky, ky_weights = np.zeros(1), np.ones(1)
        Bbc = [sp.csr_matrix(sim._AvgBC)]
        Bn = None
    # source term for 1 A: +1 at A, -1 at B, interpolated onto nodes (SimPEG's src.eval)
    Q = (_interpolation(mesh, spec.src_a) - _interpolation(mesh, spec.src_b)).T.tocsc()
    Pd = (_interpolation(mesh, spec.rx_m) - _interpolation(mesh, spec.rx_n)).tocsr()
    projection = None if spec.projection is None else sp.csr_matrix(spec.projection)
    return TileOperators(G=G, GT=G.T.tocsr(), Be=Be, Bn=Bn, Bbc=Bbc, ky=ky,
                         ky_weights=ky_weights, Q=Q, Pd=Pd,
                         datum_source=np.asarray(spec.datum_source), projection=projection,
                         n_cells=n_cells)
