"""``torchrun -m theoropt.optim.train_distributed``: trains, and resumes a stopped run exactly."""

import json
import os
import subprocess
import sys
from pathlib import Path

SMALL = [
    "--steps",
    "12",
    "--global-batch",
    "8",
    "--context",
    "16",
    "--layers",
    "1",
    "--width",
    "16",
    "--heads",
    "2",
    "--log-every",
    "4",
]


def torchrun(*args: str, metrics: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "theoropt.optim.train_distributed",
        *SMALL,
        *args,
        "--metrics",
        str(metrics),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(metrics.read_text())


def test_ddp_run_trains_and_exits(tmp_path):
    metrics = torchrun("--optimizer", "softmuon", metrics=tmp_path / "m.json")
    assert metrics["world_size"] == 2 and metrics["step"] == 12
    assert 0 < metrics["mean_final_train_loss"] < 4.2  # ln(65) = 4.17 at the start


def test_stopped_and_resumed_fsdp_run_equals_an_unbroken_one(tmp_path):
    optimizer = ["--optimizer", "softsignum", "--fsdp"]  # the transition starts at step 11
    unbroken = torchrun(*optimizer, metrics=tmp_path / "a.json")
    checkpoint = ["--checkpoint", str(tmp_path / "ckpt")]
    first = torchrun(*optimizer, *checkpoint, "--stop-at", "11", metrics=tmp_path / "b.json")
    resumed = torchrun(*optimizer, *checkpoint, metrics=tmp_path / "c.json")
    assert first["step"] == 11 and resumed["step"] == unbroken["step"] == 12
    assert unbroken["world_size"] == 2
    assert resumed["mean_final_train_loss"] == unbroken["mean_final_train_loss"]
    assert first["mean_final_train_loss"] != unbroken["mean_final_train_loss"]
