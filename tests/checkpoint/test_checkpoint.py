"""Checkpoints: exact resume, kill -9 at random moments, SIGTERM, corrupted stores."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpcinv.checkpoint import CheckpointStore, flatten_state
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
    state, _ = CheckpointStore(run / "checkpoint.zarr").load_latest()
    member = state["members"]["0"]
    arrays, _ = flatten_state({"weights": member["weights"], "optimizer": member["optimizer"]})
    return summary, model, arrays


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
    assert g.attrs["format"] == "hpcinv-checkpoint-2"
    # a run of K members: each member's state under members/<k>, the callbacks' under
    # callbacks/<key> (docs/design.md, checkpoint.zarr)
    for key in (
        "model",
        "z",
        "members/0/rng/torch",
        "members/0/history/phi_d",
        "members/0/weights/linear.weight",
        "members/0/weights/z",
        "members/0/optimizer/state/0/exp_avg",
        "callbacks/accounting/factorizations",
    ):
        assert key in g.attrs["arrays"]
    assert g.attrs["values"]["iteration"] == 12
    assert g.attrs["values"]["members/0/iteration"] == 12
    assert g.attrs["values"]["members/0/optimizer/param_groups"][0]["lr"] == 1e-2


def test_resume_is_identical_to_an_uninterrupted_run(config_file, straight, tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(config_file), "--out", str(out), "--iterations", "5"]) == 0
    assert main(["resume", str(out), "--iterations", "12"]) == 0
    _assert_identical(straight, out)


def test_resume_replays_the_plateau_learning_rate_schedule(tmp_path):
    # a threshold of 50% and a patience of 2 cut the rate every few iterations: the resumed
    # run must rebuild the schedule's state from the history to stay identical
    path = tmp_path / "plateau.toml"
    path.write_text(
        CONFIG.replace(
            "learning_rate = 1e-2\n",
            "learning_rate = 1e-2\n"
            'lr_schedule = "plateau"\nlr_patience = 2\n'
            "lr_threshold = 0.5\nlr_min = 2e-3\n",
        )
    )
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


#: the command line with a pause between writing a checkpoint and renaming it into place
#: (an injected driver option), so that kills land inside checkpoint writes too
_PAUSED_CLI = (
    "import sys, time; from hpcinv.cli import main; "
    "sys.exit(main(sys.argv[2:], before_checkpoint_rename="
    "lambda: time.sleep(float(sys.argv[1]))))"
)


def _spawn(args, pause=0.15):
    return subprocess.Popen(
        [sys.executable, "-c", _PAUSED_CLI, str(pause), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_kill_9_at_random_moments(config_file, straight, tmp_path):
    out = tmp_path / "run"
    rng = np.random.default_rng(2024)
    kills = 0
    store = CheckpointStore(out / "checkpoint.zarr")
    for _attempt in range(40):
        has_checkpoint = store.exists() and bool(store.iterations())
        args = (
            ["resume", str(out)]
            if has_checkpoint
            else ["run", str(config_file), "--out", str(out), "--overwrite"]
        )
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


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_75(config_file, straight, tmp_path):
    out = tmp_path / "run"
    proc = _spawn(["run", str(config_file), "--out", str(out)], pause=0.5)
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
def test_damaged_latest_falls_back_to_the_previous(config_file, straight, tmp_path, caplog, damage):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    latest = out / "checkpoint.zarr" / "iter-00000012"
    if damage == "chunk":
        shutil.rmtree(latest / "members" / "0" / "weights" / "head.weight" / "c")
    else:
        meta = json.loads((latest / "zarr.json").read_text())
        del meta["attributes"]["complete"]
        (latest / "zarr.json").write_text(json.dumps(meta))
    state, attrs = CheckpointStore(out / "checkpoint.zarr").load_latest()
    assert attrs["iteration"] == 10 and state["iteration"] == 10
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


def test_run_into_an_existing_run_needs_resume_or_overwrite(
    config_file, straight, tmp_path, capsys
):
    out = tmp_path / "run"
    shutil.copytree(straight, out)
    assert main(["run", str(config_file), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["run", str(config_file), "--out", str(out), "--resume", "--iterations", "13"]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == 13


def test_resume_without_a_checkpoint(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "no checkpoint.zarr" in capsys.readouterr().err


def test_all_zero_arrays_are_saved_not_mistaken_for_lost_data(tmp_path):
    # zarr skips chunks equal to the fill value; a constant beta of 0 gave an all-zero history
    from hpcinv.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path / "checkpoint.zarr")
    state = {"history": {"beta": np.zeros(4)}, "model": np.arange(3.0), "step": np.array(0.0)}
    store.save(4, state, {"problem": {"case": "tiny-2d"}}, "sha")
    loaded, _ = store.load_latest()
    assert np.array_equal(loaded["history"]["beta"], np.zeros(4))
    assert np.array_equal(loaded["model"], np.arange(3.0))
    assert loaded["step"].shape == () and loaded["step"] == 0.0


def test_nested_state_round_trips_with_every_kind_of_leaf(tmp_path):
    import torch

    state = {
        "iteration": 7,
        "name": "x",
        "flag": True,
        "nothing": None,
        "empty": {},
        "groups": [{"lr": 1e-3, "betas": [0.9, 0.999]}],
        "weights": {"a.weight": torch.arange(6.0).reshape(2, 3), "z": np.ones(2)},
        "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}},
    }
    store = CheckpointStore(tmp_path / "checkpoint.zarr")
    store.save(7, state, {"problem": {"case": "tiny-2d"}}, "sha")
    loaded, attrs = store.load_latest()
    assert attrs["iteration"] == 7
    assert {k: loaded[k] for k in ("iteration", "name", "flag", "nothing", "empty", "groups")} == {
        k: state[k] for k in ("iteration", "name", "flag", "nothing", "empty", "groups")
    }
    assert np.array_equal(loaded["weights"]["a.weight"], np.arange(6.0).reshape(2, 3))
    assert loaded["optimizer"]["state"]["0"]["step"] == 3.0  # keys come back as strings


def test_a_format_1_checkpoint_of_hpcinv_0_1_resumes(tmp_path):
    # written by hpcinv 0.1.0 (tiny-2d, 4 iterations, every 2): the restored state equals
    # what the file holds, and the run goes on from it
    from hpcinv.config import load_config
    from hpcinv.engine import SerialExecutor
    from hpcinv.inversion import Stepper
    from hpcinv.problem import build_problem

    out = tmp_path / "run"
    shutil.copytree(Path(__file__).parents[1] / "data" / "checkpoint-format-1", out)
    state, attrs = CheckpointStore(out / "checkpoint.zarr").load_latest()
    assert attrs["meta"]["iteration"] == 4 and "values" not in attrs
    config = load_config(out / "config.toml")
    problem = build_problem(config)
    run = Stepper.build(config, problem, SerialExecutor(problem))
    run.load_state_dict({"iteration": 4, "done": [0], "stopped": [""], "members": {"0": state}})
    inv = run.members[0]
    assert inv.iteration == 4 and len(inv.history) == 4
    for name, tensor in inv.net.state_dict().items():
        assert np.array_equal(tensor.numpy(), state["weights"][name]), name
    adam = inv.method.optimizer.state_dict()["state"]
    assert np.array_equal(adam[0]["exp_avg"].numpy(), state["optimizer"]["state"]["0"]["exp_avg"])
    assert main(["resume", str(out), "--iterations", "6"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 6 and summary["history"]["phi_d"][:4] == [
        float(x) for x in state["history"]["phi_d"]
    ]
