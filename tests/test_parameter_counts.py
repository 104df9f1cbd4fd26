"""The seeds' two HRMs have the sizes they reported."""

import hydra

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


def test_hrm_gpt2vocab_has_about_29_million_parameters_and_the_gpt2_vocabulary(make_config):
    module = build(make_config, "hrm_gpt2vocab", FakeData(12, 256))
    assert module.vocab_size == tokenizer_vocab_size("gpt2") == 50257
    total, _ = count_parameters(module)
    assert 28.5e6 <= total <= 30.5e6, total
