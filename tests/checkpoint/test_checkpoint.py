"""Checkpoints: exact resume, kill -9 at random moments, SIGTERM, corrupted stores."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpcinv.checkpoint import CheckpointStore
from hpcinv.cli import main

CONFIG = """
[problem]
case = "tiny-2d"
[network]
channels = [8, 4]
dropout = 0.1
[inversion]
iterations = 12
learning_rate = 1e-2
[checkpoint]
every = 2
keep_last = 2
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def straight(config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main(["run", str(config_file), "--out", str(out)]) == 0
    return out


def _final(run: Path):
    summary = json.loads((run / "summary.json").read_text())
    with np.load(run / "result.npz") as r:
        model = r["model"].copy()
    arrays, _ = CheckpointStore(run / "checkpoint.zarr").load_latest()
    weights = {k: v for k, v in arrays.items() if k.startswith(("weights/", "optimizer/"))}
    return summary, model, weights


def _assert_identical(a: Path, b: Path):
    (sa, ma, wa), (sb, mb, wb) = _final(a), _final(b)
    assert sa["iterations"] == sb["iterations"]
    assert sa["history"]["phi_d"] == sb["history"]["phi_d"]
    assert sa["history"]["beta"] == sb["history"]["beta"]
    assert np.array_equal(ma, mb)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k


def test_checkpoint_layout(straight):
    import zarr

    root = zarr.open_group(str(straight / "checkpoint.zarr"), mode="r")
    assert root.attrs["latest"] == "iter-00000012"
    groups = sorted(root.group_keys())
    assert groups == ["iter-00000010", "iter-00000012"]  # keep_last = 2
    g = root["iter-00000012"]
    assert g.attrs["complete"] is True and g.attrs["iteration"] == 12
    assert len(g.attrs["config_sha256"]) == 64 and g.attrs["config"]["problem"]["case"] == "tiny-2d"
    for key in ("model", "z", "rng/torch", "history/phi_d", "weights/linear.weight",
                "optimizer/0/exp_avg"):
        assert key in g.attrs["arrays"]


def test_resume_is_identical_to_an_uninterrupted_run(config_file, straight, tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(config_file), "--out", str(out), "--iterations", "5"]) == 0
    assert main(["resume", str(out), "--iterations", "12"]) == 0
    _assert_identical(straight, out)


def test_resume_replays_the_plateau_learning_rate_schedule(tmp_path):
    # a threshold of 50% and a patience of 2 cut the rate every few iterations: the resumed
    # run must rebuild the schedule's state from the history to stay identical
    path = tmp_path / "plateau.toml"
    path.write_text(CONFIG.replace('learning_rate = 1e-2\n', 'learning_rate = 1e-2\n'
                                   'lr_schedule = "plateau"\nlr_patience = 2\n'
                                   'lr_threshold = 0.5\nlr_min = 2e-3\n'))
    straight_run, out = tmp_path / "straight", tmp_path / "run"
    assert main(["run", str(path), "--out", str(straight_run)]) == 0
    assert main(["run", str(path), "--out", str(out), "--iterations", "5"]) == 0
    assert main(["resume", str(out), "--iterations", "12"]) == 0
    _assert_identical(straight_run, out)
    lr = json.loads((out / "summary.json").read_text())["learning_rate"]
    cuts = lr["cut_after_iterations"]
    assert lr["schedule"] == "plateau" and lr["final"] == 2e-3  # 1e-2 halved 3 times, floored
    assert len(cuts) == 3 and cuts[0] <= 5 < cuts[-1]  # cut before and after the resume
    assert json.loads((straight_run / "summary.json").read_text())["learning_rate"] == lr


def _spawn(args, env_extra=None):
    env = {**os.environ, "HPCINV_CHECKPOINT_PAUSE": "0.15", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "hpcinv.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_9_at_random_moments(config_file, straight, tmp_path):
    out = tmp_path / "run"
    rng = np.random.default_rng(2024)
    kills = 0
    store = CheckpointStore(out / "checkpoint.zarr")
    for attempt in range(40):
        has_checkpoint = store.exists() and bool(store.iterations())
        args = (["resume", str(out)] if has_checkpoint
                else ["run", str(config_file), "--out", str(out), "--overwrite"])
        proc = _spawn(args)
        if kills < 12:
            # startup takes ~2 s; an iteration ~10 ms plus a 0.15 s pause in every
            # checkpoint write: kills land in startup, iterations and mid-write
            time.sleep(float(rng.uniform(1.5, 3.5)))
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summary = json.loads((out / "summary.json").read_text())
        if summary["iterations"] == 12 and kills >= 10:
            break
    assert kills >= 10
    _assert_identical(straight, out)


def test_sigterm_checkpoints_and_exits_75(config_file, straight, tmp_path):
    out = tmp_path / "run"
    proc = _spawn(["run", str(config_file), "--out", str(out)],
                  {"HPCINV_CHECKPOINT_PAUSE": "0.5"})
    deadline = time.time() + 60
    while not (out / "summary.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err
    assert "received SIGTERM: checkpointed at iteration" in err and "hpcinv resume" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "interrupted by SIGTERM" and summary["iterations"] < 12
    assert main(["resume", str(out)]) == 0
    _assert_identical(straight, out)


@pytest.mark.parametrize("damage", ["chunk", "flag"])
def test_damaged_latest_falls_back_to_the_previous(config_file, straight, tmp_path, caplog,
                                                   damage):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    latest = out / "checkpoint.zarr" / "iter-00000012"
    if damage == "chunk":
        shutil.rmtree(latest / "weights" / "head.weight" / "c")
    else:
        meta = json.loads((latest / "zarr.json").read_text())
        del meta["attributes"]["complete"]
        (latest / "zarr.json").write_text(json.dumps(meta))
    arrays, attrs = CheckpointStore(out / "checkpoint.zarr").load_latest()
    assert attrs["iteration"] == 10
    assert "falling back" in caplog.text
    # resuming from 10 recomputes 11 and 12 exactly
    assert main(["resume", str(out), "--iterations", "12"]) == 0
    _assert_identical(straight, out)


def test_stale_temporaries_are_removed(straight, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    stale = out / "checkpoint.zarr" / ".tmp-00000014-999"
    stale.mkdir()
    assert ".tmp-00000014-999" in CheckpointStore(out / "checkpoint.zarr").clean_stale()
    assert not stale.exists()


def test_config_changes(config_file, straight, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    changed = CONFIG.replace("dropout = 0.1", "dropout = 0.2")
    (out / "config.toml").write_text(changed)
    assert main(["resume", str(out), "--iterations", "14"]) == 2
    err = capsys.readouterr().err
    assert "network.dropout: 0.1 -> 0.2" in err and "Start a new run" in err
    (out / "config.toml").write_text(CONFIG.replace("every = 2", "every = 4"))
    assert main(["resume", str(out), "--iterations", "14"]) == 2
    assert "checkpoint.every: 2 -> 4" in capsys.readouterr().err
    assert main(["resume", str(out), "--iterations", "14", "--force"]) == 0


def test_run_into_an_existing_run_needs_resume_or_overwrite(config_file, straight, tmp_path,
                                                            capsys):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    assert main(["run", str(config_file), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["run", str(config_file), "--out", str(out), "--resume",
                 "--iterations", "13"]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == 13


def test_resume_without_a_checkpoint(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "no checkpoint.zarr" in capsys.readouterr().err


def test_all_zero_arrays_are_saved_not_mistaken_for_lost_data(tmp_path):
    # zarr skips chunks equal to the fill value; a constant beta of 0 gave an all-zero history
    from hpcinv.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path / "checkpoint.zarr")
    arrays = {"history/beta": np.zeros(4), "model": np.arange(3.0), "step": np.array(0.0)}
    store.save(4, arrays, {}, {"problem": {"case": "tiny-2d"}}, "sha")
    loaded, _ = store.load_latest()
    for key, value in arrays.items():
        assert np.array_equal(loaded[key], value)
