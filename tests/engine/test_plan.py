import json

import pytest

import hpcinv
from hpcinv.cli import main
from hpcinv.engine.plan import check_tiles_fit, parse_memory, plan, tile_estimate
from hpcinv.errors import TileError

from conftest import paper_config, small_3d_problem


def test_estimates_grow_with_the_mesh():
    p = small_3d_problem(n_tiles=2)
    est = [tile_estimate(t) for t in p.tiles]
    assert all(e["n_nodes"] == p.mesh.n_nodes and e["estimated_memory_mib"] > 0 for e in est)
    assert sum(e["n_data"] for e in est) == p.n_data
    big = tile_estimate(hpcinv.build_problem(paper_config()).tiles[0])
    assert big["n_wavenumbers"] == 11 and big["estimated_factor_seconds"] > 0


def test_tile_too_large_is_refused_before_any_solve():
    p = small_3d_problem(n_tiles=1)
    need = tile_estimate(p.tiles[0])["estimated_memory_mib"]
    check_tiles_fit(p.tiles, 2 * need * 2 ** 20)  # fits
    with pytest.raises(TileError, match=r"tile 0 .* needs an estimated .* GiB but a worker has"):
        check_tiles_fit(p.tiles, 0.5 * need * 2 ** 20)


def test_dask_executor_refuses_oversized_tiles():
    from hpcinv.engine.cluster import local_cluster
    from hpcinv.engine.dask_executor import DaskExecutor

    p = small_3d_problem(n_tiles=1)
    handle = local_cluster(1, threads_per_worker=1, dashboard=False)
    try:
        with pytest.raises(TileError, match="needs an estimated"):
            DaskExecutor(p, handle.client, worker_memory=1024.0)
    finally:
        handle.close()


def test_plan_suggests_a_tile_count_that_fits(capsys):
    assert main(["plan", "examples/block-3d.toml", "--worker-memory", "64GiB"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the example asks for 4 tiles; every count fits 64 GiB, so the plan suggests the fewest
    assert out["n_tiles"] == 4 and out["fits"] and out["suggested_n_tiles"] == 1
    assert {"n_sources", "n_data", "n_cells", "estimated_memory_mib",
            "estimated_factor_seconds"} <= set(out["tiles"][0])


def test_plan_without_a_fit_suggests_nothing():
    p = small_3d_problem(n_tiles=1)
    out = plan(p, 1.0, make_tiles=lambda n: small_3d_problem(n_tiles=n).tiles)
    assert out["fits"] is False and out["suggested_n_tiles"] is None


@pytest.mark.parametrize("text, value", [("4GiB", 4 * 2 ** 30), ("512MiB", 512 * 2 ** 20),
                                         ("2GB", 2e9), ("1.5g", 1.5 * 2 ** 30)])
def test_parse_memory(text, value):
    assert parse_memory(text) == value


def test_parse_memory_rejects_nonsense():
    with pytest.raises(TileError, match="cannot read memory size"):
        parse_memory("lots")


def test_layout_suggestion_prefers_workers_per_tile():
    from hpcinv.engine.plan import suggest_layout

    tiles = [{"estimated_factor_seconds": 1.0}] * 4
    assert suggest_layout(tiles, 16)["workers"] == 4 and suggest_layout(tiles, 16)["threads_per_worker"] == 4
    two = suggest_layout(tiles, 2)
    assert (two["workers"], two["threads_per_worker"]) == (2, 1)
    assert two["estimated_factor_seconds_per_iteration"] == 2.0
