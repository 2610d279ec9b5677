import dataclasses

import pytest

from hpcinv.config import CASE_NAMES, config_digest, config_from_dict, load_config
from hpcinv.errors import ConfigError


def test_example_files_load(tmp_path):
    cfg = load_config("examples/paper-1.1.toml")
    assert cfg.problem.case == "paper-1.1"
    assert cfg.physics.solver == "auto" and cfg.physics.n_tiles == 1 and cfg.physics.nky == 11
    assert len(cfg.sha256) == 64
    assert load_config("examples/block-3d.toml").problem.case == "block-3d"


def test_defaults_fill_missing_keys():
    cfg = config_from_dict({"problem": {"case": "paper-2.2"}})
    assert cfg.problem.noise_percent == 5.0
    assert cfg.physics.n_tiles == 0  # auto: one tile on tensor meshes


def test_digest_ignores_key_order():
    a = {"problem": {"case": "paper-1.1", "noise_seed": 3}, "physics": {"n_tiles": 2}}
    b = {"physics": {"n_tiles": 2}, "problem": {"noise_seed": 3, "case": "paper-1.1"}}
    assert config_digest(a) == config_digest(b)
    assert config_digest(a) != config_digest({**a, "physics": {"n_tiles": 3}})


@pytest.mark.parametrize(
    "raw, words",
    [
        (
            {"problem": {"case": "paper-1.1"}, "phisics": {}},
            ["unknown section", "'phisics'", "physics"],
        ),
        ({"problem": {"case": "paper-1.1", "noise": 5}}, ["problem.noise", "noise_percent"]),
        ({"problem": {"case": "paper-9"}}, ["problem.case", "paper-1.1", "block-3d"]),
        ({"problem": {}}, ["neither", "problem.case", "problem.data"]),
        (
            {"problem": {"case": "tiny-2d", "data": "d.obs"}},
            ["both", "problem.case", "problem.data"],
        ),
        ({"problem": {"data": "d.obs", "dimension": "4d"}}, ["problem.dimension", "2d", "3d"]),
        ({"problem": {"data": "d.obs"}, "mesh": {"pad_factor": 1.0}}, ["mesh.pad_factor", "> 1"]),
        ({"problem": {"data": "d.obs"}, "mesh": {"cell": 5.0}}, ["mesh.cell", "cell_size"]),
        ({"problem": {"data": "d.obs"}, "report": {"overlay": 3}}, ["report.overlay", "str"]),
        ({"physics": {}}, ["missing section [problem]"]),
        (
            {"problem": {"case": "paper-1.1"}, "physics": {"n_tiles": "two"}},
            ["physics.n_tiles", "int"],
        ),
        (
            {"problem": {"case": "paper-1.1"}, "physics": {"n_tiles": -1}},
            ["physics.n_tiles", ">= 0"],
        ),
        ({"problem": {"case": "paper-1.1"}, "physics": {"n_tiles": True}}, ["physics.n_tiles"]),
        (
            {"problem": {"case": "paper-1.1"}, "physics": {"solver": "pardiso"}},
            ["physics.solver", "mumps", "superlu"],
        ),
        (
            {"problem": {"case": "paper-1.1", "noise_percent": -1.0}},
            ["problem.noise_percent", ">= 0"],
        ),
        ({"problem": {"case": "paper-1.1"}, "physics": {"nky": 2}}, ["physics.nky", ">= 3"]),
        ({"problem": "paper-1.1"}, ["'problem' must be a table"]),
    ],
)
def test_bad_config_names_the_key(raw, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    for w in words:
        assert w in str(err.value)


def test_integer_accepted_for_float():
    cfg = config_from_dict({"problem": {"case": "paper-1.1", "noise_percent": 3}})
    assert cfg.problem.noise_percent == 3.0 and isinstance(cfg.problem.noise_percent, float)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[problem\ncase = 1")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[problem]\ncase = "paper-1.1"\nseed = 3\n')
    with pytest.raises(ConfigError, match=r"typo.toml: unknown key\(s\) problem.seed"):
        load_config(typo)


def test_case_names_all_buildable():
    from hpcinv.problem.cases import SiteCase, build_case

    for name in CASE_NAMES:
        case = build_case(name)
        if isinstance(case, SiteCase):  # meshed like field data: the model is a function
            points = case.survey.electrodes - [0.0, 0.0, 1.0]
            assert case.model(points).shape == (len(points),)
        else:
            assert case.true_model.shape == (case.mesh.n_cells,)


def test_field_data_config_defaults():
    cfg = config_from_dict({"problem": {"data": "data/line.obs"}})
    assert cfg.problem.case is None and cfg.problem.data == "data/line.obs"
    assert cfg.problem.dimension == "auto" and cfg.problem.use_file_uncertainty
    assert cfg.mesh.cell_size == 0.0 and cfg.mesh.air_conductivity == 1e-8
    assert cfg.report.overlay == ""


@pytest.mark.parametrize(
    "value, words", [("8000", "no unit"), ("lots", "not a memory size"), ("0MiB", "more than 0")]
)
def test_memory_sizes_are_checked_when_the_config_loads(value, words):
    with pytest.raises(ConfigError, match=f"slurm.worker_memory = '{value}'.*{words}"):
        config_from_dict({"problem": {"case": "tiny-2d"}, "slurm": {"worker_memory": value}})
    ok = config_from_dict({"problem": {"case": "tiny-2d"}, "slurm": {"worker_memory": "8GB"}})
    assert ok.slurm.worker_memory == "8GB"


def test_a_config_dumped_to_toml_loads_back_with_the_same_digest():
    import tomllib

    from hpcinv.config import dump_toml

    raw = {
        "problem": {"case": "tiny-3d", "noise_percent": 3},
        "network": {"channels": [8, 4]},
        "inversion": {"target_chi": 1.0, "pretrain": True},
        "slurm": {"prologue": ['a "b"']},
    }
    assert config_from_dict(tomllib.loads(dump_toml(raw))).sha256 == config_from_dict(raw).sha256


def test_3d_defaults_fill_only_what_the_run_file_leaves_out():
    from hpcinv.config import DEFAULTS_3D, with_3d_defaults

    config = config_from_dict(
        {"problem": {"case": "block-3d"}, "inversion": {"learning_rate": 1e-3}}
    )
    filled_config, filled = with_3d_defaults(config)
    assert "inversion.learning_rate" not in filled
    assert filled_config.inversion.learning_rate == 1e-3
    assert filled["inversion.relinearize_every"] == DEFAULTS_3D["inversion"]["relinearize_every"]
    assert filled_config.network.channels == DEFAULTS_3D["network"]["channels"]
    assert filled_config.raw == config.raw and filled_config.sha256 == config.sha256


def test_readme_key_tables_are_the_configs_own_docs():
    from pathlib import Path

    from hpcinv.config.reference import key_tables, readme_block

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert readme_block() in readme, (
        "README's run-file keys drifted from the docs in hpcinv/config: run "
        "`python -m hpcinv.config.reference --readme README.md`"
    )
    # every key of every section is in the tables, with its default
    tables = key_tables()
    from hpcinv.config.run import SECTIONS

    for name, cls in SECTIONS.items():
        assert f"**`[{name}]`**" in tables
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in tables, f"{name}.{f.name}"


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"slurm": {"worker_walltime": "1h"}}, "slurm.worker_walltime = '1h' is not a Slurm time"),
        ({"slurm": {"driver_walltime": "12:00:00:00"}}, "slurm.driver_walltime"),
        ({"problem": {"case": "tiny-2d", "format": "ubc2d"}}, "problem.format = 'ubc2d'"),
    ],
)
def test_values_that_would_fail_late_are_refused_when_the_file_loads(raw, words):
    raw = {"problem": {"case": "tiny-2d"}, **raw}
    with pytest.raises(ConfigError, match=words):
        config_from_dict(raw)
    for good in ("90", "30:00", "01:30:00", "2-12", "2-12:00", "2-12:00:00"):
        config_from_dict({"problem": {"case": "tiny-2d"}, "slurm": {"worker_walltime": good}})
