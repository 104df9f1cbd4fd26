"""Compose the training config the way `python train.py <overrides>` does, from Python (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from hrm.utils import resolvers  # noqa: F401  (registers ${cpu_precision:})

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def compose_train_config(overrides: list[str], root: str | Path) -> DictConfig:
    """The composed configs/train.yaml with every output (run dir, checkpoints) under `root`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="train", overrides=[f"paths.root_dir={root}", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(Path(root) / "run")  # Hydra's runtime dir exists only inside a launch
    return cfg
