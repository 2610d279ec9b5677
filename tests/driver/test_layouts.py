"""One run file, one answer: the same histories and models, bitwise, whatever the layout.

Serial (``--workers 0``) against local Dask clusters of 1, 2 and 4 workers with 1 or 2 CPUs
each, and against a serial run whose driver may use one core only (``taskset``), over 5
iterations with dropout on, on a 2.5D line split by wavenumbers (paper-1.1), a small line
split by sources (tiny-2d) and a 3D case split by sources (tiny-3d). What the numbers depend
on is fixed by the run file: physics.threads (BLAS threads of every tile) and
network.threads (torch's threads); one variant sets both to 2 and gives its workers 1 CPU.
"""

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pytest

import hpcinv
from hpcinv.config import config_from_dict, dump_toml
from hpcinv.engine.cluster import local_cluster

ITERATIONS = 5
RUN_FILES = {
    "paper-1.1": {
        "problem": {"case": "paper-1.1"},
        "physics": {"n_tiles": 3, "split": "wavenumbers"},
        "inversion": {"learning_rate": 1e-3},
    },
    "tiny-2d": {
        "problem": {"case": "tiny-2d"},
        "physics": {"n_tiles": 2, "split": "sources"},
        "network": {"channels": [8, 4]},
        "inversion": {"learning_rate": 1e-2},
    },
    "tiny-3d": {
        "problem": {"case": "tiny-3d"},
        "physics": {"n_tiles": 3},
        "network": {"channels": [8, 4]},
        "inversion": {"learning_rate": 1e-2},
    },
    "tiny-3d, 2 threads": {
        "problem": {"case": "tiny-3d"},
        "physics": {"n_tiles": 3, "threads": 2},
        "network": {"channels": [8, 4], "threads": 2},
        "inversion": {"learning_rate": 1e-2},
    },
}
for raw in RUN_FILES.values():
    raw.setdefault("checkpoint", {})["every"] = 2


def _outcome(run_dir):
    result = hpcinv.driver.Result(run_dir)
    arrays = result.arrays
    history = {k: arrays[f"history_{k}"] for k in ("phi_d", "chi", "beta", "loss")}
    return history, arrays["model"]


def _assert_bitwise(reference, other, label):
    (h0, m0), (h1, m1) = reference, other
    for key in h0:
        assert np.array_equal(h0[key], h1[key]), f"{label}: history {key} differs"
    assert np.array_equal(m0, m1), f"{label}: model differs by up to {np.max(np.abs(m0 - m1)):.3g}"


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    out = {}
    for name, raw in RUN_FILES.items():
        run_dir = root / name.replace(", ", "-").replace(" ", "-")
        hpcinv.run(config_from_dict(raw), run_dir, iterations=ITERATIONS)
        out[name] = _outcome(run_dir)
    assert len(out["paper-1.1"][0]["phi_d"]) == ITERATIONS
    return out


@pytest.mark.parametrize("workers, cpus", [(1, 1), (2, 1), (4, 1), (2, 2)])
@pytest.mark.slow
def test_dask_layouts_equal_serial(serial, tmp_path, workers, cpus):
    handle = local_cluster(workers, cpus, dashboard=False)
    try:
        for name, raw in RUN_FILES.items():
            run_dir = tmp_path / name.replace(", ", "-").replace(" ", "-")
            hpcinv.run(config_from_dict(raw), run_dir, iterations=ITERATIONS, client=handle.client)
            _assert_bitwise(serial[name], _outcome(run_dir), f"{name}, {workers}x{cpus}")
    finally:
        handle.close()


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) missing")
@pytest.mark.slow
def test_a_driver_on_one_core_equals_one_on_all(serial, tmp_path):
    for name, raw in RUN_FILES.items():
        path = tmp_path / f"{name.replace(', ', '-').replace(' ', '-')}.toml"
        path.write_text(dump_toml(raw))
        run_dir = tmp_path / path.stem
        subprocess.run(
            [
                "taskset",
                "-c",
                "0",
                sys.executable,
                "-m",
                "hpcinv",
                "run",
                str(path),
                "--out",
                str(run_dir),
                "--iterations",
                str(ITERATIONS),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        _assert_bitwise(serial[name], _outcome(run_dir), f"{name}, one core")


def test_the_thread_counts_are_what_the_numbers_depend_on():
    # the control: other thread counts do give other last bits, so the equalities above are
    # not vacuous (on the tiny cases above they happen not to: too small to split)
    import torch

    from hpcinv.inversion import build_generator, set_network_threads
    from hpcinv.physics import TilePhysics

    config = config_from_dict({"problem": {"case": "paper-1.1"}})
    problem = hpcinv.build_problem(config, with_data=False)
    grads = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            set_network_threads(threads)
            net = build_generator(config.network, problem.model_grid).eval()
            net().pow(2).sum().backward()
            grads.append(torch.cat([p.grad.ravel() for p in net.parameters()]).numpy())
    finally:
        set_network_threads(before)
    assert not np.array_equal(*grads)
    assert np.allclose(*grads, rtol=1e-4, atol=0)  # float32 round-off, not another answer

    block = hpcinv.build_problem(
        config_from_dict({"problem": {"case": "block-3d"}}), with_data=False
    )
    m = np.full(block.model_grid.n_cells, np.log(0.01))
    data = []
    for threads in (1, 2):
        spec = dataclasses.replace(block.tiles[0], blas_threads=threads)
        physics = TilePhysics(spec)
        data.append(physics.predict(m))
        physics.free()
    assert not np.array_equal(*data)  # MUMPS's fronts summed in another order
    assert np.allclose(*data, rtol=1e-10, atol=0)
