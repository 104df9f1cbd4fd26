"""A composed training config checked as data before any work starts (no data read, nothing built).

Every class it names must be one this framework builds (`hrm.registry`); the model's settings are checked
against the module's signature and its settings dataclasses, the data module's against its signature, and
the run's own (seed, step and epoch counts, batch sizes) by the table below. Each problem is one line
naming the setting, e.g. `model.optimizer.lr=-0.001: must be above 0`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm.errors import UserError
from hrm.registry import DATA_MODULES, LIGHTNING_MODULES, allowed_class, check_module_arguments, check_targets
from hrm.utils.validation import check_arguments, describe_type, matches

# setting: (type, smallest value allowed); a missing setting is left to its default.
RUN_SETTINGS: dict[str, tuple[Any, float | None]] = {
    "seed": (int, 0),
    "trainer.max_steps": (int, -1),
    "trainer.max_epochs": (int | None, -1),
    "trainer.min_epochs": (int | None, 0),
    "trainer.min_steps": (int | None, -1),
    "trainer.accumulate_grad_batches": (int, 1),
    "trainer.log_every_n_steps": (int, 1),
    "trainer.check_val_every_n_epoch": (int | None, 1),
    "trainer.val_check_interval": (int | float | None, 0),
    "trainer.gradient_clip_val": (int | float | None, 0),
    "trainer.num_sanity_val_steps": (int, -1),
    "trainer.limit_train_batches": (int | float | None, 0),
    "trainer.limit_val_batches": (int | float | None, 0),
    "trainer.limit_test_batches": (int | float | None, 0),
    "trainer.num_nodes": (int, 1),
    "data.batch_size": (int, 1),
    "data.eval_batch_size": (int | None, 1),
    "data.num_workers": (int, 0),
    "data.num_aug": (int, 0),
    "data.val_num_aug": (int | None, 0),
    "data.test_num_aug": (int | None, 0),
    "data.max_tasks": (int | None, 1),
    "data.canvas": (int, 1),
    "data.max_images": (int | None, 1),
    "crash_at_step": (int | None, 1),
    "global_batch_size": (int | None, 1),
}
SEED_LIMIT = 2**32  # what numpy and Lightning's seed_everything accept


def plain(section: Any) -> Any:
    return OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else section


def lookup(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_run_settings(cfg: Mapping) -> None:
    for key, (kind, smallest) in RUN_SETTINGS.items():
        present, value = lookup(cfg, key)
        if not present:
            continue
        if not matches(value, kind):
            raise UserError(f"{key}={value!r}: expected {describe_type(kind)}")
        if value is not None and smallest is not None and value < smallest:
            raise UserError(f"{key}={value!r}: must be at least {smallest}")
    if not cfg.get("seed", 0) < SEED_LIMIT:
        raise UserError(f"seed={cfg['seed']}: must be below {SEED_LIMIT}")
    trainer = cfg.get("trainer") or {}
    for key in ("max_steps", "max_epochs"):
        if cfg.get("train", True) and trainer.get(key) == 0:
            raise UserError(f"trainer.{key}=0: trains nothing (train=false evaluates a checkpoint; -1: no limit)")


GPU_ACCELERATORS = ("gpu", "cuda")


def check_devices(cfg: Mapping) -> None:
    """The accelerator and device count asked for exist here: no silent fall-back to the CPU."""
    import torch

    trainer = cfg.get("trainer") or {}
    accelerator, devices = str(trainer.get("accelerator", "cpu")).lower(), trainer.get("devices", 1)
    if accelerator in GPU_ACCELERATORS:
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0:
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            raise UserError(f"trainer.accelerator={accelerator}: this machine has no GPU that torch {torch.__version__}"
                            f" ({build}) can use; train on the CPU with trainer=cpu")
        wanted = available if devices in (-1, "auto", "-1") else devices
        if isinstance(wanted, int) and wanted > available:
            raise UserError(f"trainer.devices={devices}: this machine has {available} GPU(s)")
    elif accelerator == "mps" and not torch.backends.mps.is_available():
        raise UserError("trainer.accelerator=mps: this machine has no Apple GPU that torch can use")
    elif accelerator not in ("cpu", "auto", "mps"):
        raise UserError(f"trainer.accelerator={accelerator}: not one this framework runs on (cpu, gpu, mps)")


def settings_of(section: Mapping) -> dict:
    """A group's constructor arguments: its keys less Hydra's own (`_target_`, `_recursive_`, ...)."""
    return {key: value for key, value in section.items() if not (key.startswith("_") and key.endswith("_"))}


def swapped_model_hint() -> str:
    """Where the command line swapped an experiment's model for one its model settings do not fit, the
    experiments written for the chosen model. Empty elsewhere."""
    from hrm.utils.experiments import experiments_for, swapped_model

    swap = swapped_model()
    if swap is None:
        return ""
    experiment, own, model = swap
    return (f" (experiment={experiment} sets it for model={own}; experiments written for model={model}:"
            f" {', '.join(experiments_for(model)) or 'none'})")


def check_config(cfg: DictConfig) -> None:
    """Everything `run` will build from `cfg`, checked before it builds anything."""
    container = plain(cfg)
    check_targets(container)
    check_run_settings(container)
    check_devices(container)
    model, data = container.get("model"), container.get("data")
    if isinstance(model, Mapping):
        module_class = allowed_class(model.get("_target_"), LIGHTNING_MODULES, "model")
        try:
            check_module_arguments(module_class, settings_of(model), "model", before_data=True)
        except UserError as error:
            raise UserError(f"{error}{swapped_model_hint()}") from None
    if isinstance(data, Mapping):
        data_class = allowed_class(data.get("_target_"), DATA_MODULES, "data")
        check_arguments(data_class, settings_of(data), "data")
