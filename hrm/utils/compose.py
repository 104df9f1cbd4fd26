"""Compose the training config the way `python train.py <overrides>` does, from Python (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from hrm.utils import resolvers  # noqa: F401  (registers ${cpu_precision:})

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def compose_train_config(overrides: list[str], root: str | Path, run_dir: str = "run") -> DictConfig:
    """The composed configs/train.yaml with every output under `root`: checkpoints in root/checkpoints/,
    the run's metrics.json and logs in root/<run_dir>/."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="train", overrides=[f"paths.root_dir={root}", *overrides],
                      return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # so ${hydra:runtime.choices.model} resolves, as in a launch
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(Path(root) / run_dir)  # Hydra's runtime dir exists only inside a launch
    return cfg


def plain_container(config: Any) -> Any:
    """Hydra hands modules DictConfigs; checkpoints must hold plain containers (loaded with weights_only=True)."""
    return OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else config
