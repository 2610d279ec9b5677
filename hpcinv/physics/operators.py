"""Model-independent operators of a tile's nodal DC problem.

With sigma the cell conductivities (S/m), the nodal system matrix of SimPEG's
``Simulation2DNodal`` (per wavenumber k) and ``Simulation3DNodal`` with Robin boundaries is

    A_k(sigma) = G^T diag(Be sigma) G + k^2 diag(Bn sigma) + diag(Bbc_k sigma)

(no k term in 3D), linear in sigma: Be maps cells to the diagonal edge inner product (diagonal
on a TensorMesh), Bn = aveN2CC^T diag(vol) gives SimPEG's nodal mass ``MnSigma`` and Bbc_k
is SimPEG's Robin boundary term ``_AvgBC[k]``. Linearity gives the adjoint gradient in closed
form for all sources at once (see ``TilePhysics``).

Electrodes: every source and receiver of a tile is a +-1 combination of its distinct
electrodes. With Ie (n_elec, n_nodes) interpolating nodal values at those electrodes,
C (n_elec, n_src) the source combinations (+1 at A, -1 at B) and R (n_elec, n_data) the
receiver combinations (+1 at M, -1 at N), the source term is Q = Ie^T C and the receiver
projection Pd = R^T Ie.
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
    Ie, C, R: electrode interpolation and source / receiver combinations (module docstring);
    Q = Ie^T C: (n_nodes, n_src) source term for 1 A; Pd = R^T Ie: (n_data, n_nodes) receiver
    projection (M - N); datum_source: (n_data,) local source of each datum;
    projection: model grid -> tile cells, or None for the identity.
    """

    G: sp.csr_matrix
    GT: sp.csr_matrix
    Be: sp.csr_matrix
    Bn: sp.csr_matrix | None
    Bbc: list[sp.csr_matrix]
    ky: np.ndarray
    ky_weights: np.ndarray
    Ie: sp.csr_matrix
    C: sp.csc_matrix
    R: sp.csc_matrix
    Q: sp.csc_matrix
    Pd: sp.csr_matrix
    datum_source: np.ndarray
    projection: sp.csr_matrix | None
    n_cells: int

    @property
    def n_nodes(self) -> int:
        return self.G.shape[1]

    @property
    def n_electrodes(self) -> int:
        return self.Ie.shape[0]

    def dA_times(self, k_index: int, dsigma: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(dA_k/dsigma . dsigma) X for a block X (n_nodes, n_cols)."""
        diag = self.Bbc[k_index] @ dsigma
        if self.Bn is not None:
            k = self.ky[k_index]
            diag = diag + k * k * (self.Bn @ dsigma)
        return self.GT @ ((self.Be @ dsigma)[:, None] * (self.G @ X)) + diag[:, None] * X

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


def electrode_combinations(spec: TileSpec):
    """(positions (n_elec, dim), C (n_elec, n_src), R (n_elec, n_data)) of a tile.

    Remote poles (NaN positions) contribute nothing.
    """
    groups = [spec.src_a, spec.src_b, spec.rx_m, spec.rx_n]
    stacked = np.vstack(groups)
    real = ~np.isnan(stacked).any(axis=1)
    positions, inverse = np.unique(stacked[real], axis=0, return_inverse=True)
    index = np.full(stacked.shape[0], -1)
    index[real] = inverse.ravel()
    n_e = positions.shape[0]
    bounds = np.cumsum([0] + [g.shape[0] for g in groups])
    a, b, m, n = (index[bounds[i] : bounds[i + 1]] for i in range(4))

    def combination(plus, minus):
        cols = np.arange(plus.size)
        rows = np.r_[plus, minus]
        vals = np.r_[np.ones(plus.size), -np.ones(minus.size)]
        keep = rows >= 0
        return sp.csc_matrix(
            (vals[keep], (rows[keep], np.r_[cols, cols][keep])), shape=(n_e, plus.size)
        )

    return positions, combination(a, b), combination(m, n)


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
    positions, C, R = electrode_combinations(spec)
    Ie = sp.csr_matrix(mesh.get_interpolation_matrix(positions, location_type="nodes"))
    projection = None if spec.projection is None else sp.csr_matrix(spec.projection)
    return TileOperators(
        G=G,
        GT=G.T.tocsr(),
        Be=Be,
        Bn=Bn,
        Bbc=Bbc,
        ky=ky,
        ky_weights=ky_weights,
        Ie=Ie,
        C=C,
        R=R,
        Q=(Ie.T @ C).tocsc(),
        Pd=(R.T @ Ie).tocsr(),
        datum_source=np.asarray(spec.datum_source),
        projection=projection,
        n_cells=n_cells,
    )
