"""The step benchmark's FLOP accounting: the model's FLOPs (not activation checkpointing's repeated forward),
and the share of them in the CPU flash-attention kernel, which only sequences past SHORT_SEQUENCE use."""

import torch

from hrm.bench.step import attention_ceiling, describe_rate, matmul_rate, step_flops
from hrm.models.layers import SHORT_SEQUENCE, reasoning_levels
from hrm.modules.reasoning import ReasoningModule


def module(seq_len: int, recompute: bool) -> ReasoningModule:
    net = {"_target_": "hrm.models.hrm.HRM", "vocab_size": 12, "seq_len": seq_len, "hidden_size": 32,
           "num_heads": 4, "H_layers": 1, "L_layers": 1, "H_cycles": 2, "L_cycles": 2}
    return ReasoningModule(net=net, activation_checkpointing=recompute)


def batch(seq_len: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"inputs": torch.randint(1, 12, (1, seq_len), generator=g),
            "labels": torch.randint(1, 12, (1, seq_len), generator=g),
            "puzzle_identifiers": torch.zeros(1, dtype=torch.long)}


def test_recomputed_forward_is_not_counted_and_the_setting_is_restored():
    seq = SHORT_SEQUENCE + 40
    plain, recomputing = module(seq, False), module(seq, True)
    counted = step_flops(plain, batch(seq), autocast=False)
    assert step_flops(recomputing, batch(seq), autocast=False) == counted
    assert all(level.recompute for level in reasoning_levels(recomputing.net))


def test_long_sequences_count_flash_attention_and_get_a_ceiling():
    seq = SHORT_SEQUENCE + 40
    net = module(seq, False)
    flops = step_flops(net, batch(seq), autocast=False)
    assert 0 < flops.attention_backward < flops.attention_forward < flops.total
    ceiling = attention_ceiling(net, flops, torch.float32, peak=1e12)
    assert ceiling is not None and ceiling > 0


def test_short_sequences_use_plain_matmuls_and_have_no_ceiling():
    net = module(16, False)
    flops = step_flops(net, batch(16), autocast=False)
    assert flops.attention_forward == flops.attention_backward == 0 and flops.total > 0
    assert attention_ceiling(net, flops, torch.float32, peak=1e12) is None


def test_a_matmul_too_slow_for_the_budget_is_measured_on_a_smaller_side():
    """Where bf16 is emulated, 2048^3 would take minutes: the side halves until the measurement fits."""
    rate, side = matmul_rate(torch.float32, size=1024, budget_s=1e-9)
    assert side == 256 and rate > 0
    assert matmul_rate(torch.float32, size=512, budget_s=1e9)[1] == 512
    assert describe_rate("bf16", 4.2e8, 256) == "bf16 0.4 (at 256^3: 2048^3 would take minutes here)"
    assert describe_rate("fp32", 1.33e11, 2048) == "fp32 133"
