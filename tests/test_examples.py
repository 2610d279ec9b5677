"""Every run file in examples/ loads, and the files it names ship with it."""

from pathlib import Path

import pytest

from hpcinv.config import load_config

EXAMPLES = sorted(Path(__file__).resolve().parents[1].joinpath("examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_and_its_files_exist(path):
    config = load_config(path)
    names = (
        config.problem.data,
        config.problem.observed,
        config.network.initial_weights,
        config.mesh.topography,
        config.report.overlay,
    )
    for name in names:
        if name:
            assert config.resolve_path(name).is_file(), name
