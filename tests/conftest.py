"""Shared fixtures: compose the real Hydra configs with outputs redirected to a temp dir."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# `make test` runs the suite in pytest-xdist workers (TEST_WORKERS, 2): each worker, and every process it starts,
# computes on its share of the cores, where two workers of two threads each would fight over two cores.
# (Set before torch is first imported, which reads it.)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))

import pytest  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from hrm.utils.compose import compose_train_config  # noqa: E402
from tests.zygote import Zygote  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Seconds-long runs: the debug=tiny overrides plus no wandb.
TINY = ["debug=tiny", "logger=csv"]


@pytest.fixture
def make_config(tmp_path):
    def make(*overrides: str) -> DictConfig:
        return compose_train_config(list(overrides), tmp_path)

    return make


_zygote: Zygote | None = None


def run_train(args: list[str], root: Path, timeout: int = 300, fresh: bool = False) -> subprocess.CompletedProcess:
    """Run the real entry point, `python train.py ...`, as a user would (outputs under `root`): forked from
    a process that has imported everything once (tests/zygote.py), or, with `fresh`, a plain new interpreter
    (where its whole output matters, the import's included)."""
    global _zygote
    env = dict(os.environ, HRM_ROOT=str(root), WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    env.pop("PYTEST_CURRENT_TEST", None)
    argv = [str(ROOT / "train.py"), *args]
    if fresh:
        return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    if _zygote is None:
        _zygote = Zygote(ROOT)
        atexit.register(_zygote.close)
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        rc = _zygote.run(argv, ROOT, env, out, err, timeout)
        return subprocess.CompletedProcess([sys.executable, *argv], rc, out.read_text(errors="replace"),
                                           err.read_text(errors="replace"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A tiny random GPT-2 (2 layers, 32 wide, GPT-2's real vocabulary) saved as a local model dir: what
    `model.pretrained=<dir>` loads in place of the hub's weights, which cannot be downloaded here."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    # initializer_range: at 32 wide, GPT-2's 0.02 leaves logits within +-0.6, too flat for any adapter to move
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=160, initializer_range=0.2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def trained_lora(tiny_gpt2_dir, tmp_path_factory):
    """experiment=agent_lora on the tiny logs, 2 epochs, from the tiny GPT-2 saved locally:
    (its metrics, its checkpoint dir)."""
    from hrm.training import run

    root = tmp_path_factory.mktemp("agent_lora")
    cfg = compose_train_config(["experiment=agent_lora", *TINY, f"model.pretrained={tiny_gpt2_dir}",
                                "trainer.max_steps=-1", "trainer.max_epochs=2"], root)
    metrics = run(cfg)
    return metrics, Path(cfg.paths.ckpt_dir)
