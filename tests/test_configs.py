"""Every config composes and instantiates; experiments pick their groups; the command line wins."""

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from hrm.errors import CheckpointError
from hrm.training import bind_model_to_data, build_callbacks, build_loggers, count_parameters
from hrm.utils.cli import user_error_in

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_with_its_name(make_config, experiment):
    cfg = make_config(f"experiment={experiment}")
    assert cfg.experiment_name.startswith(experiment)
    OmegaConf.resolve(cfg)  # every interpolation resolves
    assert cfg.paths.ckpt_dir.endswith(f"checkpoints/{cfg.experiment_name}")


@pytest.mark.parametrize("experiment", options("experiment"))
def test_no_experiment_chooses_the_device_so_the_trainer_group_does(make_config, experiment):
    on_gpu = make_config(f"experiment={experiment}", "trainer=gpu")
    assert (on_gpu.trainer.accelerator, on_gpu.trainer.devices) == ("gpu", 1)
    assert make_config(f"experiment={experiment}").trainer.accelerator == "cpu"


# The experiment each kind of model trains in (its data).
EXPERIMENT_OF = {
    "hrm.modules.reasoning.ReasoningModule": "task/arc_tiny",  # the task alone: each model keeps its own shape
    "hrm.modules.policy.PolicyModule": "agent_imitation",
    "hrm.modules.vae.VAEModule": "vae_teacher",
    "hrm.modules.vae_distill.VAEDistillModule": "vae_distill",
    "hrm.modules.policy_rl.PolicyRLModule": "agent_rl",
    "hrm.modules.gpt2_lora.GPT2LoRAModule": "agent_lora",
}
# Experiments that start from another's checkpoint (their own tests train one): the one line they give without it.
NEEDS_A_TRAINED = {"vae_distill": "train one first: python train.py experiment=vae_teacher",
                   "agent_rl": "train one first (python train.py experiment=agent_imitation)"}


@pytest.mark.parametrize("model", options("model"))
def test_every_model_config_instantiates_sized_by_its_data(make_config, model):
    experiment = EXPERIMENT_OF[make_config(f"model={model}").model._target_]
    cfg = make_config(f"experiment={experiment}", f"model={model}", "debug=tiny")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    if experiment in NEEDS_A_TRAINED:
        with pytest.raises(Exception) as raised:  # Hydra wraps the module's own error
            bind_model_to_data(cfg.model, datamodule)
            hydra.utils.instantiate(cfg.model)
        assert isinstance(user_error_in(raised.value), CheckpointError)
        assert NEEDS_A_TRAINED[experiment] in str(user_error_in(raised.value))
        return
    bind_model_to_data(cfg.model, datamodule)
    module = hydra.utils.instantiate(cfg.model)
    if experiment == "vae_teacher":
        assert (module.net.config.in_channels, module.net.config.image_size) == (1, 32)  # digits, upsampled
    elif experiment == "task/arc_tiny":
        assert module.net.config.seq_len == datamodule.seq_len
        assert module.vocab_size >= datamodule.vocab_size
    elif experiment == "agent_lora":  # GPT-2's ids fit GPT-2's embedding; only the adapter trains
        assert module.net.get_base_model().get_input_embeddings().num_embeddings >= module.prompts.vocab_size
        assert 0 < module.parameter_counts()[1] < module.parameter_counts()[0]
    else:  # a policy reads texts: its own tokenizer sizes the embedding
        assert module.net.backbone.input.embed_tokens.num_embeddings == module.vocab_size
        assert int(module.encode(datamodule.train_texts()).max()) < module.vocab_size
    assert count_parameters(module)[0] > 0


@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_trainer_config_composes(make_config, trainer):
    cfg = make_config(f"trainer={trainer}")
    OmegaConf.resolve(cfg)
    assert cfg.trainer.precision in {"bf16-mixed", "32-true"}
    if trainer not in ("gpu", "mps"):  # devices this machine lacks
        hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)


@pytest.mark.parametrize("logger", options("logger"))
def test_every_logger_and_the_callbacks_instantiate(make_config, logger, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config(f"logger={logger}", "debug=tiny")
    loggers = build_loggers(cfg, resuming=False)
    # wandb comes with the CSV logger that the offline dashboard reads
    assert [type(x).__name__ for x in loggers] == {"none": [], "csv": ["CSVLogger"],
                                                   "wandb": ["CSVLogger", "WandbLogger"]}[logger]
    callbacks = build_callbacks(cfg, has_logger=bool(loggers))
    names = {type(c).__name__ for c in callbacks}
    assert "ModelCheckpoint" in names and "StepProgress" in names
    assert ("LearningRateMonitor" in names) == bool(loggers)  # it raises without a logger


def test_command_line_group_wins_over_the_experiments_choice(make_config):
    assert make_config("experiment=agent_imitation").model.tokenizer == "words"
    cfg = make_config("experiment=agent_imitation", "model=hrm_gpt2vocab")
    assert cfg.model.tokenizer == "gpt2" and cfg.model.net.H_layers == 3
    # the experiment's own overrides of other groups still apply, and its checkpoints are the model's own
    assert cfg.trainer.max_epochs == 20 and cfg.data._target_.endswith("AgentLogDataModule")
    assert cfg.experiment_name == "agent_imitation_hrm_gpt2vocab"


def test_debug_tiny_shrinks_whichever_data_the_experiment_uses(make_config):
    assert make_config("experiment=arc_full", "debug=tiny").data.max_tasks == 2
    assert make_config("experiment=agent_imitation", "debug=tiny").data.collect.episodes == 5
    assert make_config("experiment=agent_imitation").data.collect.episodes == 22


def test_arc_full_is_the_seeds_recipe(make_config):
    from hrm.utils.resolvers import cpu_precision

    assert make_config("experiment=arc_full", "trainer=gpu").trainer.precision == "bf16-mixed"
    cfg = make_config("experiment=arc_full")
    assert cfg.trainer.precision == cpu_precision()  # on a CPU, bf16 only where it is fast
    assert cfg.data.batch_size * cfg.trainer.accumulate_grad_batches == 48
    assert cfg.model.act.halt_max_steps == 8 and cfg.model.net.hidden_size == 256


def test_cpu_trainer_picks_bf16_only_where_the_cpu_has_it(make_config):
    from hrm.utils.resolvers import cpu_has_bf16

    cfg = make_config("trainer=cpu")
    assert cfg.trainer.precision == ("bf16-mixed" if cpu_has_bf16() else "32-true")


@pytest.mark.parametrize("search", options("hparams_search"))
def test_every_hparams_search_composes_and_names_the_metric_it_optimises(make_config, search):
    cfg = make_config("experiment=agent_imitation", f"hparams_search={search}")
    OmegaConf.resolve(cfg)
    assert cfg.optimized_metric.startswith("val/")


def test_the_slurm_launcher_asks_for_the_trainers_nodes_and_devices(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from hrm.utils.compose import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose("train", overrides=[f"paths.root_dir={tmp_path}", "hydra/launcher=slurm", "trainer=gpu",
                                          "trainer.strategy=ddp", "trainer.devices=4", "trainer.num_nodes=2"],
                      return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["additional_parameters"] == {"requeue": True} and launcher["max_num_timeout"] == 0


def test_every_lightning_module_the_framework_builds_says_what_it_takes_from_its_data():
    from hrm.registry import LIGHTNING_MODULES
    from hrm.training import DATA_BINDINGS

    assert set(DATA_BINDINGS) == set(LIGHTNING_MODULES)
