"""A run's identity is its settings: which checkpoint dir a command trains in, and whether it has already.

Every setting that changes what is trained (the model, the data, the optimizer, the seed, ...) is part of
a run's identity; where it writes, how it logs and shows progress, how often it saves or validates, what
its test stage does, and how long it trains (`trainer.max_steps`, `max_epochs`, `max_time`: a larger one
extends the run) are not. The settings are recorded beside the checkpoints (`run_info.json`), so that:

- the same command again resumes its run (after a kill), or says the run is finished and where its
  results are, without training again;
- a command with a changed setting trains in a dir of its own, `checkpoints/<experiment_name>-<hash>/`,
  and says which settings differ from the closest earlier run; earlier checkpoints are never touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm.errors import UserError
from hrm.utils.files import read_json
from hrm.utils.io import atomic_write_json

RUN_INFO = "run_info.json"
# Settings that do not change what is trained (a prefix covers everything below it).
NOT_IDENTITY = (
    "paths", "logger", "hydra", "experiment_name", "verbose", "train", "test", "resume", "ckpt_path",
    "crash_at_step", "crash_signal", "optimized_metric",
    "trainer.max_steps", "trainer.max_epochs", "trainer.max_time", "trainer.enable_progress_bar",
    "trainer.enable_model_summary", "trainer.log_every_n_steps", "trainer.num_sanity_val_steps",
    "trainer.val_check_interval", "trainer.check_val_every_n_epoch", "trainer.limit_val_batches",
    "trainer.limit_test_batches", "trainer.default_root_dir",
    "callbacks.progress_bar", "callbacks.model_summary", "callbacks.lr_monitor", "callbacks.simulated_crash",
    "callbacks.last", "callbacks.best", "callbacks.every_5_epochs", "callbacks.arc_evaluation",
    "callbacks.reconstruction_grid", "callbacks.export",
    "data.num_workers", "data.eval_batch_size", "data.val_num_aug", "data.test_num_aug", "data.data_dir",
    "model.act.eval_halting", "model.act.eval_halt_confidence", "model.compile",
)
MOST_SHOWN = 4  # differing settings named in the "new run" line


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: node}


def identity_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings that decide what a run trains, flattened to `a.b.c: value` (as JSON keeps them)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    flat = flatten(container)
    kept = {key: value for key, value in flat.items()
            if not any(key == p or key.startswith(p + ".") for p in NOT_IDENTITY)}
    return json.loads(json.dumps(kept, sort_keys=True, default=str))  # tuples as lists, as read back


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def launch_command() -> str | None:
    """The command that started this run, as a user would type it again (where it wrote left out)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    overrides = [str(o) for o in HydraConfig.get().overrides.task if not str(o).startswith(("paths.", "hydra."))]
    return " ".join(["python train.py", *overrides])


def read_info(ckpt_dir: Path) -> dict:
    path = ckpt_dir / RUN_INFO
    if not path.is_file():
        return {}
    try:
        info = read_json(path, "run record")
    except UserError:  # a damaged record: the run is treated as one of unknown settings
        return {}
    return info if isinstance(info, dict) else {}


def update_info(ckpt_dir: Path, **fields: Any) -> None:
    atomic_write_json(ckpt_dir / RUN_INFO, {**read_info(ckpt_dir), **fields})


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """`key: old -> new` for each setting that differs (from `a` to `b`)."""
    keys = sorted(set(a) | set(b))
    shown = lambda d, k: json.dumps(d[k]) if k in d else "(absent)"  # noqa: E731
    return [f"{k}: {shown(a, k)} -> {shown(b, k)}" for k in keys if a.get(k, ...) != b.get(k, ...)]


@dataclass
class RunChoice:
    ckpt_dir: Path
    message: str | None  # what to say at start (a new run and why), or None


def choose_ckpt_dir(base: Path, settings: dict[str, Any]) -> RunChoice:
    """The checkpoint dir for a run of `settings`: `base` when it is empty, holds this run, or holds
    checkpoints of unknown settings (written before settings were recorded); else `base-<hash>`."""
    recorded = read_info(base).get("settings")
    if recorded is None or recorded == settings:  # new, this run, or checkpoints of unknown settings
        return RunChoice(base, None)
    own = base.with_name(f"{base.name}-{settings_hash(settings)}")
    if read_info(own).get("settings") == settings:
        return RunChoice(own, None)
    earlier = [base, *sorted(p for p in base.parent.glob(f"{base.name}-*") if p.is_dir())]
    runs = [(p, read_info(p).get("settings")) for p in earlier]
    runs = [(p, s) for p, s in runs if isinstance(s, dict)]
    closest, their = min(runs, key=lambda run: len(differences(run[1], settings)))
    changed = differences(their, settings)
    more = f" and {len(changed) - MOST_SHOWN} more" if len(changed) > MOST_SHOWN else ""
    return RunChoice(own, f"new run in {own}: its settings differ from {closest}'s in "
                          f"{'; '.join(changed[:MOST_SHOWN])}{more} (that run is left as it is)")


def finished_run(ckpt_dir: Path, cfg: DictConfig) -> dict | None:
    """The record of this run's finished training, if the command asks for no more than it did."""
    finished = read_info(ckpt_dir).get("finished")
    if not isinstance(finished, dict):
        return None
    trainer = cfg.trainer
    same_bounds = (finished.get("max_steps") == trainer.get("max_steps")
                   and finished.get("max_epochs") == trainer.get("max_epochs")
                   and finished.get("max_time") == trainer.get("max_time"))
    steps, done = trainer.get("max_steps"), finished.get("global_step")
    already_past = isinstance(steps, int) and isinstance(done, int) and 0 < steps <= done
    return finished if same_bounds or already_past else None


def record_finished(ckpt_dir: Path, cfg: DictConfig, global_step: int, results: Path) -> None:
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    update_info(ckpt_dir, finished={"max_steps": trainer.get("max_steps"), "max_epochs": trainer.get("max_epochs"),
                                    "max_time": trainer.get("max_time"), "global_step": global_step,
                                    "results": str(results)})
