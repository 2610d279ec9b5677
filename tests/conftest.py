"""Shared fixtures: the paper's 2.5D problem, small problems and a local Dask cluster (the
problems themselves are built by ``tests/problems.py``)."""

from __future__ import annotations

import pytest
from problems import paper_config, small_3d_problem, tiny_2d_problem

import hpcinv


@pytest.fixture(scope="session")
def paper_problem():
    return hpcinv.build_problem(paper_config())


@pytest.fixture(scope="session")
def small_problem_3d():
    return small_3d_problem()


@pytest.fixture(scope="session")
def tiny_problem():
    return tiny_2d_problem()


@pytest.fixture(scope="module")
def two_workers():
    """A local Dask cluster of two single-CPU workers, one per test module."""
    from hpcinv.engine.cluster import local_cluster

    handle = local_cluster(2, threads_per_worker=1, dashboard=False)
    yield handle.client
    handle.close()
