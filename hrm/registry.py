"""The classes this framework builds, by name: nothing else is ever built from a config or a checkpoint.

A checkpoint's hyper-parameters, or a config, name their classes with `_target_` strings. Passing such a
string to `hydra.utils.instantiate` (or any importer) would run whatever it names, so a checkpoint from a
stranger could run code on load. Here a name is only looked up in these lists; the import is of the
list's own entry.

- `build_net` builds the networks (`net:` in model configs and in checkpoints), after checking every
  setting against the network's config dataclass.
- `check_targets` refuses a composed training config with a `_target_` outside the lists, before
  anything is built.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from typing import Any

import torch

from hrm.errors import UserError
from hrm.utils.validation import build_config, check_arguments, field_types

NETS = ("hrm.models.hrm.HRM", "hrm.models.trm.TRM", "hrm.models.transformer.Transformer", "hrm.models.vae.VAE")
LIGHTNING_MODULES = (
    "hrm.modules.reasoning.ReasoningModule",
    "hrm.modules.policy.PolicyModule",
    "hrm.modules.policy_rl.PolicyRLModule",
    "hrm.modules.gpt2_lora.GPT2LoRAModule",
    "hrm.modules.vae.VAEModule",
    "hrm.modules.vae_distill.VAEDistillModule",
)
DATA_MODULES = (
    "hrm.data.arc.ARCDataModule",
    "hrm.data.agent_logs.AgentLogDataModule",
    "hrm.data.agent_episodes.AgentEpisodeDataModule",
    "hrm.data.scenarios.ScenarioDataModule",
    "hrm.data.puzzles.SudokuDataModule",
    "hrm.data.puzzles.MazeDataModule",
    "hrm.data.images.DigitsDataModule",
    "hrm.data.images.CIFAR10DataModule",
)
TRAINERS = ("lightning.pytorch.Trainer",)
CALLBACKS = ("hrm.callbacks.LastCheckpoint", "hrm.callbacks.SimulatedCrash", "hrm.progress.StepProgress",
             "hrm.evaluation.callback.ARCEvaluation", "hrm.evaluation.reconstructions.ReconstructionGrid",
             "hrm.evaluation.reconstructions.ExportSafetensors", "hrm.bench.timing.ValidationTimeline")
# Which list each top-level group of the training config draws from.
GROUPS = {"model": LIGHTNING_MODULES, "data": DATA_MODULES, "trainer": TRAINERS}
# Groups of several entries: this framework's classes above, or any class Lightning's package exports (a
# name in its __all__, so that `package.os.system` and the like are not names of it).
GROUPS_OF_MANY = {"callbacks": (CALLBACKS, "lightning.pytorch.callbacks"), "logger": ((), "lightning.pytorch.loggers")}


def _import(name: str) -> type:
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def allowed_class(name: Any, allowed: tuple[str, ...], where: str, error: type[UserError] = UserError) -> type:
    """The class `name` stands for, if it is one of `allowed`; else one line naming `where`."""
    if not isinstance(name, str) or name not in allowed:
        raise error(f"{where}._target_={name!r}: not a class this framework builds (one of: {', '.join(allowed)})")
    return _import(next(entry for entry in allowed if entry == name))


def build_net(config: Any, where: str, error: type[UserError] = UserError, device: str | None = None) -> torch.nn.Module:
    """The network a `net:` mapping describes (`_target_` plus its config dataclass's fields), every setting
    checked first. `device="meta"` builds it without memory, to compare its shapes with a checkpoint's
    before allocating anything."""
    cls, net_config = check_net_settings(config, where, error)
    try:
        with torch.device(device) if device else contextlib.nullcontext():
            return cls(net_config)
    except ValueError as problem:  # a shape the config allows but the net cannot take (e.g. a non-square grid)
        raise error(f"{where}: {problem}") from None


def check_targets(cfg: Mapping) -> None:
    """Every `_target_` of a composed training config is in the lists above, in its group."""
    for group, allowed in GROUPS.items():
        section = cfg.get(group)
        if isinstance(section, Mapping) and "_target_" in section:
            allowed_class(section["_target_"], allowed, group)
    for group, (ours, package) in GROUPS_OF_MANY.items():
        for name, section in (cfg.get(group) or {}).items():
            target = section.get("_target_") if isinstance(section, Mapping) else None
            if target is not None and not (target in ours or exported_by(package, target)):
                ours_text = f"one of {', '.join(ours)}, or " if ours else ""
                raise UserError(f"{group}.{name}._target_={target!r}: not a class this framework builds"
                                f" ({ours_text}a class {package} exports)")
    _check_nested(cfg, "", set(GROUPS) | set(GROUPS_OF_MANY))


def exported_by(package: str, target: Any) -> bool:
    """Whether `target` is `<package>.<Name>` with Name in the package's `__all__`."""
    if not isinstance(target, str):
        return False
    module, _, name = target.rpartition(".")
    return module == package and name.isidentifier() and name in getattr(importlib.import_module(package), "__all__", ())


def _check_nested(node: Any, where: str, checked_groups: set[str]) -> None:
    """No `_target_` anywhere else, except a model's `net`, which `build_net` checks when it is built."""
    if isinstance(node, (list, tuple)):  # Hydra instantiates inside lists too (`_args_: [{_target_: ...}]`)
        for index, item in enumerate(node):
            _check_nested(item, f"{where}[{index}]", set())
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        path = f"{where}.{key}" if where else str(key)
        if not where and key in checked_groups:
            if key in GROUPS and isinstance(value, Mapping):
                for inner, section in value.items():
                    if inner != "net":
                        _check_nested(section, f"{key}.{inner}", set())
                net = value.get("net") if key == "model" else None
                if isinstance(net, Mapping):
                    allowed_class(net.get("_target_"), NETS, "model.net")
            elif isinstance(value, Mapping):  # callbacks, loggers: each entry's own _target_ is checked above
                for name, section in value.items():
                    for inner, setting in (section.items() if isinstance(section, Mapping) else ()):
                        if inner != "_target_":
                            _check_nested(setting, f"{key}.{name}.{inner}", set())
            continue
        if key == "_target_":
            raise UserError(f"{path}={value!r}: not a class this framework builds")
        _check_nested(value, path, set())


def check_net_settings(config: Any, where: str, error: type[UserError] = UserError,
                       before_data: bool = False) -> tuple[type, Any]:
    """(the net's class, its config dataclass) of a `net:` mapping, each setting checked (names, types,
    ranges, with `where` in the message) without building the net. `before_data`: the sizes the data fills
    in later (vocab_size, seq_len) may still be missing (placeholders stand in for them)."""
    if not isinstance(config, Mapping):
        raise error(f"{where}: expected a mapping with _target_, got {type(config).__name__}")
    cls = allowed_class(config.get("_target_"), NETS, where, error)
    settings = {key: value for key, value in config.items() if key != "_target_"}
    placeholders = {name: 1 for name in DATA_SIZED if name in field_types(cls.config_class)} if before_data else {}
    return cls, build_config(cls.config_class, {**placeholders, **settings}, where, error)


DATA_SIZED = ("vocab_size", "seq_len")


def check_module_arguments(cls: type, values: Any, where: str, error: type[UserError] = UserError,
                           before_data: bool = False, saved_state: Mapping | None = None) -> dict:
    """A LightningModule's arguments (a model config, or a checkpoint's hyper-parameters) checked as data:
    names and types against its signature, each group of settings against its dataclass (the class's
    `SETTINGS`), the net against its own. With `saved_state` (a checkpoint's tensors), the net may not be
    larger than what the checkpoint holds, so a forged size cannot exhaust memory before shapes are compared."""
    values = check_arguments(cls, values, where, error)
    for name, config_cls in getattr(cls, "SETTINGS", {}).items():
        if values.get(name) is not None:
            build_config(config_cls, values[name], f"{where}.{name}", error)
    if "net" in values and saved_state is None:
        check_net_settings(values["net"], f"{where}.net", error, before_data)
    elif "net" in values:  # built without memory (which checks its settings), to count what it needs
        net = build_net(values["net"], f"{where}.net", error, device="meta")
        needed = sum(p.numel() for p in net.parameters())
        held = sum(t.numel() for t in saved_state.values() if isinstance(t, torch.Tensor))
        if needed > held:
            raise error(f"{where}.net: describes a network of {needed:,} parameters, more than the {held:,}"
                        " values this checkpoint holds")
    return values
