import pickle

import numpy as np
import pytest

from hpcinv.errors import TileError
from hpcinv.mesh import MeshSpec
from hpcinv.problem.cases import build_case
from hpcinv.tiles import make_tiles, split_sources


@pytest.fixture(scope="module")
def block():
    return build_case("block-3d")


@pytest.mark.parametrize("n_tiles", [1, 2, 3, 5, 8])
def test_split_is_a_balanced_partition(block, n_tiles):
    survey = block.survey
    groups = split_sources(survey, n_tiles)
    assert len(groups) == n_tiles
    together = np.sort(np.concatenate(groups))
    assert np.array_equal(together, np.arange(survey.n_sources))
    counts = np.bincount(survey.source_of_datum)
    loads = np.array([counts[g].sum() for g in groups])
    # bisection at data-weighted quantiles: no tile is far above the mean load
    assert loads.max() <= 1.35 * survey.n_data / n_tiles


def test_tiles_are_spatially_coherent(block):
    survey = block.survey
    mid = survey.source_midpoints()
    groups = split_sources(survey, 4)
    # the tiles' bounding boxes in (x, y) do not overlap: each tile is one region
    boxes = [(mid[g, 0].min(), mid[g, 0].max(), mid[g, 1].min(), mid[g, 1].max()) for g in groups]
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = boxes[i], boxes[j]
            overlap_x = a[0] < b[1] and b[0] < a[1]
            overlap_y = a[2] < b[3] and b[2] < a[3]
            assert not (overlap_x and overlap_y), (a, b)


def test_tile_specs_cover_all_rows_once_and_group_by_source(block):
    tiles = make_tiles(block.survey, MeshSpec.from_mesh(block.mesh), 3, "mumps")
    rows = np.sort(np.concatenate([t.data_rows for t in tiles]))
    assert np.array_equal(rows, np.arange(block.survey.n_data))
    for t in tiles:
        assert np.all(np.diff(t.datum_source) >= 0)  # grouped by local source
        assert np.array_equal(
            block.survey.source_of_datum[t.data_rows], t.source_ids[t.datum_source]
        )


def test_specs_are_deterministic_small_and_picklable(block):
    mesh = MeshSpec.from_mesh(block.mesh)
    a = make_tiles(block.survey, mesh, 2, "mumps")
    b = make_tiles(block.survey, mesh, 2, "mumps")
    assert [t.digest for t in a] == [t.digest for t in b]
    assert a[0].digest != a[1].digest
    blob = pickle.dumps(a[0])
    assert len(blob) < 200_000  # geometry only, no simulation or mesh object
    assert pickle.loads(blob).digest == a[0].digest
    # the digest is a content hash: other data or another solver give another digest
    w = np.ones(block.survey.n_data)
    with_data = make_tiles(
        block.survey.with_data(np.ones(block.survey.n_data), w), mesh, 2, "mumps", weights=w
    )
    assert with_data[0].digest != a[0].digest
    assert make_tiles(block.survey, mesh, 2, "superlu")[0].digest != a[0].digest


def test_more_tiles_than_sources_is_refused(block):
    with pytest.raises(TileError, match="at most 112 tiles"):
        split_sources(block.survey, 113)
