"""``hpcinv submit``: the rendered driver script, checked as a string (no Slurm needed)."""

import os
import subprocess

import pytest

from hpcinv.cli import main
from hpcinv.cli.submit import DriverJob, render_driver_script

CONFIG = """
[problem]
case = "tiny-2d"
[slurm]
partition = "from-config"
directives = ["--constraint=cpu"]
prologue = ["module load mumps", "source /opt/venv/bin/activate"]
signal_lead_seconds = 240
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG)
    return path


def _dry_run(capsys, *argv) -> str:
    assert main(["submit", *argv, "--dry-run"]) == 0
    return capsys.readouterr().out


def _directives(script: str) -> list[str]:
    return [ln.removeprefix("#SBATCH ") for ln in script.splitlines() if ln.startswith("#SBATCH")]


def test_dry_run_prints_a_valid_script_with_signal_requeue_and_config_settings(
    tmp_path, config, capsys
):
    out = tmp_path / "run"
    script = _dry_run(
        capsys, str(config), "--out", str(out), "--time", "02:00:00", "--iterations", "50"
    )
    d = _directives(script)
    assert "--time=02:00:00" in d and "--signal=B:USR1@240" in d and "--requeue" in d
    assert "--partition=from-config" in d and "--constraint=cpu" in d
    assert "--open-mode=append" in d  # a requeued job appends to the same log
    assert f"--output={out}/slurm-driver-%j.out" in d
    assert not any("gres" in x for x in d)
    assert "module load mumps\nsource /opt/venv/bin/activate\n" in script
    assert f"-m hpcinv run {config} --out {out} --iterations 50\n" in script
    assert f"-m hpcinv resume {out} --iterations 50\n" in script
    assert 'if [ -e "$run_dir/checkpoint.zarr" ]' in script
    assert not out.exists()  # a dry run writes nothing
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # bash parses it


def test_an_ensemble_is_asked_of_run_and_resume_reads_it_from_the_run(tmp_path, config, capsys):
    out = tmp_path / "run"
    script = _dry_run(capsys, str(config), "--out", str(out), "--ensemble", "8")
    assert f"-m hpcinv run {config} --out {out} --ensemble 8\n" in script
    assert f"-m hpcinv resume {out}\n" in script


def test_flags_override_config_which_overrides_the_site_profile(
    tmp_path, config, capsys, monkeypatch
):
    site = tmp_path / "site.toml"
    site.write_text(
        '[slurm]\npartition = "from-site"\naccount = "geo123"\ngpu_directive = "--gpus=a100:1"\n'
    )
    monkeypatch.setenv("HPCINV_SITE", str(site))
    d = _directives(_dry_run(capsys, str(config), "--out", str(tmp_path / "r")))
    assert "--partition=from-config" in d and "--account=geo123" in d
    d = _directives(
        _dry_run(
            capsys,
            str(config),
            "--out",
            str(tmp_path / "r"),
            "--gpu",
            "--partition",
            "gpu",
            "--account",
            "other",
        )
    )
    assert "--partition=gpu" in d and "--account=other" in d and "--gpus=a100:1" in d
    assert "--partition=from-config" not in d


def test_slurm_workers_mode_forwards_worker_settings_to_the_driver_command(
    tmp_path, config, capsys
):
    script = _dry_run(
        capsys,
        str(config),
        "--out",
        str(tmp_path / "r"),
        "--slurm",
        "--workers",
        "8",
        "--threads-per-worker",
        "4",
        "--slurm-memory",
        "16GiB",
        "--slurm-directive=--qos=long",
        "--slurm-interface",
        "ib0",
        "--memory",
        "12GiB",
    )
    run_line = next(ln for ln in script.splitlines() if " -m hpcinv run " in ln)
    for part in (
        "--workers 8",
        "--threads-per-worker 4",
        "--slurm ",
        "--slurm-memory 16GiB",
        "--slurm-directive=--qos=long",
        "--slurm-interface ib0",
    ):
        assert part in run_line
    d = _directives(script)
    assert "--mem=12288M" in d and "--ntasks=1" in d and "--nodes=1" in d
    assert "--qos=long" not in d  # a worker-job directive, not the driver's
    assert "srun" not in run_line


def test_runner_mode_starts_all_tasks_with_srun_in_one_allocation(tmp_path, config, capsys):
    script = _dry_run(
        capsys,
        str(config),
        "--out",
        str(tmp_path / "r"),
        "--slurm-runner",
        "--workers",
        "6",
        "--threads-per-worker",
        "4",
        "--nodes",
        "2",
        "--slurm-interface",
        "ib0",
    )
    d = _directives(script)
    assert "--nodes=2" in d and "--ntasks=8" in d and "--cpus-per-task=4" in d
    run_line = next(ln for ln in script.splitlines() if " -m hpcinv run " in ln)
    assert run_line.strip().startswith("set -- srun ") and "--slurm-runner" in run_line
    assert "--slurm-interface ib0" in run_line
    assert "--workers" not in run_line  # the runner's workers are the srun tasks
    resume_line = next(ln for ln in script.splitlines() if " -m hpcinv resume " in ln)
    assert resume_line.strip().startswith("set -- srun ")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--nodes", "3"], "runs on one node unless --slurm-runner"),
        (["--slurm-runner"], "needs --workers N"),
        (["--slurm"], "--slurm needs --workers"),
        (["--slurm", "--slurm-runner", "--workers", "2"], "choose one of --slurm"),
    ],
)
def test_impossible_submissions_fail_with_the_fix(tmp_path, config, capsys, argv, words):
    assert main(["submit", str(config), "--out", str(tmp_path / "r"), "--dry-run", *argv]) == 2
    assert words in capsys.readouterr().err


def test_submit_refuses_a_directory_that_holds_a_run(tmp_path, config, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    assert main(["submit", str(config), "--out", str(out), "--dry-run"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_without_sbatch_the_error_says_where_to_submit(tmp_path, config, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert main(["submit", str(config), "--out", str(tmp_path / "r")]) == 2
    assert "sbatch is not on PATH" in capsys.readouterr().err


def test_the_template_rejects_unknown_placeholders():
    job = DriverJob(config="/c.toml", run_dir="/r", workdir="/", python="/py")
    with pytest.raises(Exception, match="unknown placeholder"):
        render_driver_script(job, template="#!/bin/bash\n{{nonsense}}\n")
    assert os.path.basename(job.script_path) == "hpcinv-driver.sbatch"


def test_the_shipped_site_profile_example_is_valid_and_typos_are_caught(tmp_path):
    from hpcinv.config import load_site_profile
    from hpcinv.errors import ConfigError

    assert load_site_profile("slurm/site-example.toml")["partition"] == "cpu"
    bad = tmp_path / "site.toml"
    bad.write_text('[slurm]\npartiton = "cpu"\n')
    with pytest.raises(ConfigError, match="slurm.partiton"):
        load_site_profile(bad)
