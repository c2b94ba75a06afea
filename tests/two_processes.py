"""Run a test script under ``accelerate launch`` with two CPU processes (gloo), for the multi-process tests.

Why these flags: ``accelerate launch --cpu --num_processes 2`` starts ONE process (its CPU launcher
spreads over processes only through mpirun); ``--multi_gpu`` goes through torchrun, and
``ACCELERATE_USE_CPU`` makes accelerate pick its multi-CPU mode (gloo). A free port of our own, since
other test runs may launch at the same time.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(script: str | Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``script args…`` on two gloo processes with one torch thread each; fails the test with the tail
    of both outputs when it exits non-zero."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), str(script), *map(str, args)]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def end_processes() -> None:
    """End a launched script: wait for every rank, then close the process group. Why: a rank that exits
    with the gloo group still open can abort in its teardown ("terminate called without an active
    exception", seen once in CI after a finished training) and fail the launch."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
