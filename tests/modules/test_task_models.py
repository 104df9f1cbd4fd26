"""The HRM, TRM and the plain transformer behind the one ReasoningModule: each takes its first training
steps on Sudoku (and the HRM on mazes) through the real Trainer, swapped in with model=."""

import math

import hydra
import pytest
from lightning.pytorch.callbacks import EMAWeightAveraging
from omegaconf import OmegaConf

from hrm.registry import build_net
from hrm.training import bind_model_to_data, count_parameters, run
from hrm.utils.compose import CONFIG_DIR
from tests.conftest import TINY

CONFIGS = CONFIG_DIR / "model"


@pytest.mark.parametrize("experiment", ["sudoku6", "sudoku6_trm", "sudoku6_transformer", "maze"])
def test_each_model_trains_and_is_evaluated_through_the_shared_module(make_config, experiment):
    metrics = run(make_config(f"experiment={experiment}", *TINY, "test=true"))
    assert metrics["trainer/global_step"] == 4
    for key in ("train/loss", "test/exact_accuracy", "test/steps"):
        assert key in metrics


def test_the_transformer_matches_the_hrms_parameters_and_trm_keeps_an_ema(make_config):
    modules = {}
    for model, experiment in (("hrm", "sudoku6"), ("trm", "sudoku6_trm"), ("transformer", "sudoku6_transformer")):
        cfg = make_config(f"experiment={experiment}")
        datamodule = hydra.utils.instantiate(cfg.data, num_train=8, num_val=1, num_test=1, data_dir=None)
        bind_model_to_data(cfg.model, datamodule)
        modules[model] = hydra.utils.instantiate(cfg.model)
    counts = {name: count_parameters(module)[0] for name, module in modules.items()}
    assert counts["transformer"] == counts["hrm"]  # parameter-matched
    # at the papers' sizes (configs/model/*.yaml) the TRM has about a quarter of the HRM's parameters
    paper = {name: build_net({**OmegaConf.load(CONFIGS / f"{name}.yaml").net, "vocab_size": 12, "seq_len": 81},
                             "model.net") for name in ("hrm", "trm")}
    ratio = count_parameters(paper["trm"])[0] / count_parameters(paper["hrm"])[0]
    assert 0.2 < ratio < 0.3, ratio
    # TRM keeps an EMA of its weights (the HRM paper does not; experiment=sudoku6 gives every model one)
    assert (make_config("model=trm").model.ema, make_config("model=hrm").model.ema) == (0.999, None)
    assert [type(c) for c in modules["trm"].configure_callbacks()] == [EMAWeightAveraging]


@pytest.mark.parametrize("budget", ["steps", "time"])
def test_cosine_decay_reaches_its_floor_at_the_end_of_the_step_or_time_budget(make_config, budget):
    import datetime

    import lightning as L

    cfg = make_config("experiment=sudoku6_transformer", *TINY, "model.optimizer.lr_decay=cosine",
                      "model.optimizer.lr=1e-3", "model.optimizer.min_lr_ratio=0.1", "model.optimizer.warmup_steps=0")
    datamodule = hydra.utils.instantiate(cfg.data)
    bind_model_to_data(cfg.model, datamodule)
    module = hydra.utils.instantiate(cfg.model)
    limit = {"max_steps": 6} if budget == "steps" else {"max_steps": -1, "max_time": datetime.timedelta(seconds=2)}
    trainer = L.Trainer(**limit, max_epochs=-1, min_epochs=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    lrs = []
    module.on_train_batch_start = lambda batch, i: lrs.append(trainer.optimizers[0].param_groups[0]["lr"])
    trainer.fit(module, datamodule=datamodule)
    assert module.training_progress() == pytest.approx(1.0)
    assert lrs[0] == pytest.approx(1e-3) and all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 1e-3
    if budget == "steps":  # the last step's rate: the cosine at 5/6 of the way
        assert lrs[-1] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 6))))
