"""The original agent's two HRMs have the sizes they reported."""

import hydra
from omegaconf import open_dict

from hrm.data.tokenizers import tokenizer_vocab_size
from hrm.training import bind_model_to_data, count_parameters


class FakeData:  # only sizes are read; real data modules are exercised in tests/data
    def __init__(self, vocab_size, seq_len):
        self.vocab_size, self.seq_len, self.num_puzzle_identifiers = vocab_size, seq_len, 0


def build(make_config, model: str, data):
    # arc_full keeps the model configs' own sizes (the default experiment, arc_tiny, shrinks them)
    cfg = make_config("experiment=arc_full", f"model={model}")
    bind_model_to_data(cfg.model, data)
    return hydra.utils.instantiate(cfg.model)


def test_hrm_arc_has_about_5_7_to_6_1_million_parameters(make_config):
    module = build(make_config, "hrm_arc", FakeData(12, 900))
    total, dense = count_parameters(module)
    assert 5.7e6 <= dense <= 6.1e6, dense


def policy(make_config, model: str):
    cfg = make_config("experiment=agent_imitation", f"model={model}")  # its full size (the data is tiny anyway)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)  # a `words` vocabulary is built from the logs
    return hydra.utils.instantiate(cfg.model)


def test_hrm_gpt2vocab_is_the_seeds_29m_hrm_without_its_vocabulary_output_table(make_config):
    """The original agent's 29,138,898 parameters included a 50,257 x 256 output table over the vocabulary; a policy
    reads its action from a 4-way head instead."""
    module = policy(make_config, "hrm_gpt2vocab")
    assert module.vocab_size == tokenizer_vocab_size("gpt2") == 50257
    total, _ = count_parameters(module)
    seeds_without_output_table = 29_138_898 - 50257 * 256
    assert 0.97 * seeds_without_output_table <= total <= 1.07 * seeds_without_output_table, total


def test_hrm_agent_is_a_small_hrm_of_1_to_5_million_parameters(make_config):
    total, _ = count_parameters(policy(make_config, "hrm_agent"))  # the original agent's HRM: ~1-5M
    assert 1e6 <= total <= 5e6, total


def vae_params(make_config, model: str) -> int:
    cfg = make_config("experiment=vae_teacher", f"model={model}", "data=cifar10")
    with open_dict(cfg.model):  # CIFAR-10's 3x32x32 images, as the seed measured (no download needed)
        cfg.model.net.in_channels, cfg.model.net.image_size = 3, 32
    return count_parameters(hydra.utils.instantiate(cfg.model))[0]


def test_the_vae_teacher_has_about_10m_parameters_and_its_student_30x_fewer(make_config):
    teacher, student = vae_params(make_config, "vae"), vae_params(make_config, "tiny_vae")
    assert 9.5e6 <= teacher <= 10.5e6, teacher  # the seed: 10M
    assert 0.25e6 <= student <= 0.32e6, student  # the seed: 294K
    assert teacher / student >= 30
