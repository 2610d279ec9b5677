"""What the tests marked ``slurm`` share: whether a Slurm answers, the queue, job states."""

import shutil
import subprocess
import time

import pytest


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "alloc"))


#: mark a module's tests: skipped with the reason where no Slurm answers, never silently
SLURM_MARKS = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not slurm_answers(),
        reason="no Slurm answers here (start one: bash slurm/local-cluster.sh start)",
    ),
]

#: worker-job flags for the one-node Slurm of slurm/local-cluster.sh
LOCAL = [
    "--slurm-scheduler-host",
    "127.0.0.1",
    "--slurm-memory",
    "2GiB",
    "--slurm-walltime",
    "00:10:00",
    "--slurm-wait-seconds",
    "120",
]


def queue() -> str:
    return subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True).stdout


def job_field(job_id: str, key: str) -> str | None:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    for token in out.split():
        if token.startswith(key + "="):
            return token.split("=", 1)[1]
    return None


def wait_for_job(job_id: str, timeout: float) -> str:
    """Wait until the job has ended (requeues included); its final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job_field(job_id, "JobState")
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            return state
        time.sleep(2)
    subprocess.run(["scancel", job_id])
    raise AssertionError(
        f"job {job_id} did not end within {timeout:.0f} s (state {job_field(job_id, 'JobState')})"
    )
