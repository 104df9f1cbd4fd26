"""Every experiment names the model it trains, and every `experiment=... model=...` the docs show composes
to the model it names: no pair of files is joined behind the user's back, so nothing is skipped silently.
An experiment's model swapped for one its settings do not fit is one line naming the experiments that fit."""

from __future__ import annotations

import re
import shlex

import pytest
from omegaconf import OmegaConf

from hrm.config_checks import check_config
from hrm.utils.compose import CONFIG_DIR
from hrm.utils.experiments import experiment_model, experiment_names, experiments_for
from tests.conftest import ROOT, run_train
from tests.docs_walk.markdown import documented_commands
from tests.docs_walk.test_walk import docs_files

SHAPE_KEYS = ("layers", "H_layers", "L_layers", "H_cycles", "L_cycles", "T", "n")


def documented_pairs() -> list[tuple[str, str]]:
    """(experiment, model) of every documented `python train.py` command that sets both."""
    pairs = set()
    for command in documented_commands(ROOT, docs_files()):
        if command.language != "bash" or "train.py" not in command.text:
            continue
        words = dict(w.split("=", 1) for w in shlex.split(command.text) if re.match(r"^(experiment|model)=", w))
        if "experiment" in words and "model" in words:
            pairs.add((words["experiment"], words["model"]))
    return sorted(pairs)


def net_target(model: str) -> str:
    return OmegaConf.load(CONFIG_DIR / "model" / f"{model}.yaml").get("net", {}).get("_target_") or ""


@pytest.mark.parametrize("experiment", [e for e in experiment_names() if experiment_model(e) is not None])
def test_every_experiment_trains_the_model_it_names(make_config, experiment):
    cfg = make_config(f"experiment={experiment}")
    model = experiment_model(experiment)
    assert cfg.model._target_ == make_config(f"model={model}").model._target_
    check_config(cfg)  # every setting it gives its model is one that model has


def test_documented_experiment_and_model_pairs_compose_to_the_model_named(make_config):
    pairs = documented_pairs()
    assert ("agent_imitation", "hrm_gpt2vocab") in pairs  # the docs' own pairs are found
    for experiment, model in pairs:
        cfg = make_config(f"experiment={experiment}", f"model={model}")
        check_config(cfg)
        assert cfg.model._target_ == make_config(f"model={model}").model._target_, (experiment, model)
        if net_target(model):
            assert cfg.model.net._target_ == make_config(f"model={model}").model.net._target_, (experiment, model)


@pytest.mark.parametrize("task, shapes", [
    ("sudoku6", {"sudoku6": ("HRM", 1, 1), "sudoku6_trm": ("TRM", 2, 1), "sudoku6_transformer": ("Transformer", 2)}),
    ("maze", {"maze": ("HRM", 1, 1), "maze_trm": ("TRM", 2, 2), "maze_transformer": ("Transformer", 2)}),
])
def test_one_task_three_models_each_at_its_own_shape_on_the_same_data(make_config, task, shapes):
    data = {name: make_config(f"experiment={name}").data for name in shapes}
    assert all(d == data[task] for d in data.values())  # the same task
    for name, (net, *sizes) in shapes.items():
        cfg = make_config(f"experiment={name}")
        assert cfg.model.net._target_.endswith(f".{net}")
        given = [cfg.model.net[k] for k in SHAPE_KEYS if k in cfg.model.net and k not in ("H_cycles", "L_cycles", "T")]
        assert given == list(sizes), name
        assert cfg.experiment_name == name  # each keeps its own checkpoints


def test_a_model_the_experiments_settings_do_not_fit_is_one_line_naming_the_experiments_that_do(tmp_path):
    result = run_train(["experiment=sudoku6", "model=trm", "debug=tiny"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "model.net.H_layers: unknown setting" in line
    assert "experiment=sudoku6 sets it for model=hrm" in line and "sudoku6_trm" in line
    assert set(experiments_for("trm")) >= {"sudoku6_trm", "sudoku9_trm", "maze_trm", "arc_tiny_trm"}


def test_a_model_of_the_same_kind_swapped_in_is_said_at_start(tmp_path):
    result = run_train(["experiment=sudoku6", "model=hrm_arc", "debug=tiny", "trainer.max_steps=1",
                        "logger=none"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model=hrm_arc in place of experiment sudoku6's hrm" in result.stdout


@pytest.mark.parametrize("group, option_group", [("debug_model", "model"), ("debug_data", "data")])
def test_debug_tiny_has_settings_for_every_model_and_data_config(group, option_group):
    options = sorted(p.stem for p in (CONFIG_DIR / option_group).glob("*.yaml"))
    missing = [o for o in options if not (CONFIG_DIR / group / f"tiny_{o}.yaml").is_file()]
    assert not missing, f"debug=tiny does not shrink {option_group}={missing}"
