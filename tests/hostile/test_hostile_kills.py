"""Checkpoints and outputs survive `kill -9` at any moment: a real process is killed with SIGKILL at
random (seeded) moments, during its writes too, and what it leaves is always a complete file, the old
or the new one, never a truncated or empty one; the same command then carries on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.io import recover_replaced_dir
from tests.conftest import ROOT, TINY

GENERATION_BYTES = 4 * 2**20


def kill_at_random(command: list[str], env: dict, ready, rng: random.Random, most: float) -> None:
    """Start `command`, wait until `ready()`, then SIGKILL it after a random delay of up to `most` s."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, most))
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_training_killed_during_checkpoint_writes_always_leaves_complete_checkpoints(tmp_path):
    # TMPDIR on another filesystem (tmpfs) than the checkpoints: a staged file moved across would be a copy.
    staging = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path / "staging"
    env = dict(os.environ, HRM_ROOT=str(tmp_path), WANDB_SILENT="true", TMPDIR=str(staging))
    command = [sys.executable, "train.py", "experiment=arc_tiny", *TINY, "trainer.max_steps=40",
               "callbacks.last.every_n_train_steps=1", "test=false"]
    ckpt_dir = tmp_path / "checkpoints" / "arc_tiny"
    rng = random.Random(0)
    for _ in range(3):
        kill_at_random(command, env, lambda: (ckpt_dir / "last.ckpt").is_file(), rng, most=2.0)
        for checkpoint in ckpt_dir.glob("*.ckpt"):
            assert checkpoint.stat().st_size > 0, checkpoint
            read_checkpoint(checkpoint)  # complete: loads and holds a state dict
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resuming from" in finished.stdout or "finished earlier" in finished.stdout  # a kill may come late
    assert read_checkpoint(ckpt_dir / "last.ckpt")["global_step"] == 40
    assert not [p for p in ckpt_dir.iterdir() if p.name.endswith(".tmp")]


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hrm.utils.io import atomic_write_bytes, replace_dir
    target, kind, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    generation = 0
    while True:
        generation += 1
        data = bytes([generation % 256]) * size
        if kind == "file":
            atomic_write_bytes(target, data)
        else:
            replace_dir(target, lambda d: [(d / name).write_bytes(data) for name in ("a.bin", "b.bin")])
""")


def one_generation(*contents: bytes) -> bool:
    """Every content is whole and from the same generation (one byte value repeated)."""
    first = contents[0]
    return len(first) == GENERATION_BYTES and all(c == first for c in contents) and first == first[:1] * len(first)


def killed_writer(tmp_path: Path, kind: str, rounds: int) -> Path:
    target = tmp_path / ("out.bin" if kind == "file" else "out_dir")
    command = [sys.executable, "-c", WRITER, str(target), kind, str(GENERATION_BYTES)]
    rng = random.Random(1)
    for _ in range(rounds):
        kill_at_random(command, dict(os.environ), target.exists, rng, most=0.3)
        if kind == "file":
            assert one_generation(target.read_bytes())
        else:
            recover_replaced_dir(target)  # what the next write does first
            assert one_generation((target / "a.bin").read_bytes(), (target / "b.bin").read_bytes())
    return target


def test_an_output_file_killed_mid_write_is_the_old_one_or_the_new_one(tmp_path):
    killed_writer(tmp_path, "file", rounds=8)


def test_an_output_dir_killed_mid_replace_is_the_old_one_or_the_new_one(tmp_path):
    killed_writer(tmp_path, "dir", rounds=8)
