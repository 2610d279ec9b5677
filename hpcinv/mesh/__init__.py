"""Meshes and the model grid: plain descriptions of tensor meshes, padding, local tile
meshes, and meshes made from a survey's electrodes (topography, air cells, draping)."""

from hpcinv.mesh.spec import MeshSpec, ModelGrid
from hpcinv.mesh.tensor import (
    check_electrodes_in_mesh,
    core_mask,
    core_slices,
    local_tensor_mesh,
    padded_tensor_mesh,
    padding_cells,
)

__all__ = [
    "MeshSpec",
    "ModelGrid",
    "check_electrodes_in_mesh",
    "core_mask",
    "core_slices",
    "local_tensor_mesh",
    "padded_tensor_mesh",
    "padding_cells",
]
