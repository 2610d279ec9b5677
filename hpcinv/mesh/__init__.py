"""Meshes and the model grid: plain descriptions of tensor meshes, padding, local tile
meshes, and meshes made from a survey's electrodes (topography, air cells, draping)."""

from hpcinv.mesh.tensor import (MeshSpec, ModelGrid, check_electrodes_in_mesh,
                                local_tensor_mesh, padded_tensor_mesh)

__all__ = ["MeshSpec", "ModelGrid", "check_electrodes_in_mesh", "local_tensor_mesh",
           "padded_tensor_mesh"]
