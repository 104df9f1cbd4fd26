"""Which model each experiment trains, read from its YAML as data: an experiment names its model
(`override /model: trm`) or inherits it from the experiment it starts from. Used to say which experiments
fit a model when a command line swaps an experiment's model for one its settings do not fit."""

from __future__ import annotations

from pathlib import Path

import yaml

from hrm.utils.compose import CONFIG_DIR

EXPERIMENTS = CONFIG_DIR / "experiment"


def experiment_names(folder: Path = EXPERIMENTS) -> list[str]:
    """Every experiment's name as `experiment=` takes it (paper/hrm_arc1, sudoku6, task/maze, ...)."""
    return sorted(str(path.relative_to(folder).with_suffix("")) for path in folder.rglob("*.yaml"))


def experiment_model(name: str, folder: Path = EXPERIMENTS, seen: frozenset = frozenset()) -> str | None:
    """The model config experiment `name` trains (None: it leaves the model to train.yaml's default)."""
    path = folder / f"{name}.yaml"
    if name in seen or not path.is_file():
        return None
    defaults = (yaml.safe_load(path.read_text()) or {}).get("defaults") or []
    model, parents = None, []
    for entry in defaults:
        if isinstance(entry, dict) and "override /model" in entry:
            model = entry["override /model"]
        elif isinstance(entry, str) and entry != "_self_":
            target = entry.lstrip("/")  # absolute (/experiment/x) or relative to the experiment's own folder
            parents.append(target.removeprefix("experiment/") if entry.startswith("/") else
                           str(Path(name).parent / target) if Path(name).parent != Path(".") else target)
    if model is not None:
        return model
    for parent in parents:
        inherited = experiment_model(parent, folder, seen | {name})
        if inherited is not None:
            return inherited
    return None


def experiments_for(model: str, folder: Path = EXPERIMENTS) -> list[str]:
    """The experiments written for `model`."""
    return [name for name in experiment_names(folder) if experiment_model(name, folder) == model]


def swapped_model() -> tuple[str, str, str] | None:
    """(experiment, the model it was written for, the model chosen instead) where the command line swapped
    the experiment's model (`experiment=sudoku6 model=hrm_arc`): the experiment's model settings then apply
    on top of the chosen model's own. None where no model was swapped (or outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    experiment, model = hydra_cfg.runtime.choices.get("experiment"), hydra_cfg.runtime.choices.get("model")
    swapped = any(o.split("=", 1)[0].lstrip("+~") == "model" for o in hydra_cfg.overrides.task)
    own = experiment_model(experiment) if swapped and experiment else None
    return None if own is None or own == model else (experiment, own, model)


def debug_gaps() -> list[str]:
    """What a debug option (`debug=tiny`) does not shrink: its settings for each data and model config are
    `debug_data/<debug>_<data>.yaml` and `debug_model/<debug>_<model>.yaml`; one line for each missing."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    choices = HydraConfig.get().runtime.choices
    debug = choices.get("debug")
    if debug in (None, "null"):
        return []
    return [f"debug={debug}: no configs/{group}/{debug}_{choices.get(kind)}.yaml, so {kind}={choices.get(kind)}"
            " keeps its own size" for group, kind in (("debug_data", "data"), ("debug_model", "model"))
            if not (CONFIG_DIR / group / f"{debug}_{choices.get(kind)}.yaml").is_file()]
