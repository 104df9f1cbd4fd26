import math

import pytest
import torch

from hrm.models.hrm import HRM, HRMCarry, HRMConfig
from hrm.models.layers import TRUNCATED_STD, Linear

SMALL = dict(vocab_size=12, seq_len=16, num_puzzle_identifiers=5, hidden_size=32, num_heads=4,
             H_layers=1, L_layers=2, H_cycles=3, L_cycles=2)


def batch_of(size: int, seq_len: int = 16, vocab: int = 12):
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randint(0, vocab, (size, seq_len), generator=g),
        "labels": torch.randint(0, vocab, (size, seq_len), generator=g),
        "puzzle_identifiers": torch.randint(0, 5, (size,), generator=g),
    }


def test_output_shapes():
    net = HRM(HRMConfig(**SMALL))
    carry = net.initial_carry(3)
    new_carry, logits, q_logits = net(carry, batch_of(3))
    assert logits.shape == (3, 16, 12)
    assert q_logits.shape == (3, 2) and q_logits.dtype == torch.float32
    # one puzzle-embedding prefix token in the carried state, dropped from the logits
    assert new_carry.z_H.shape == new_carry.z_L.shape == (3, 17, 32)
    assert not new_carry.z_H.requires_grad and not new_carry.z_L.requires_grad


def test_no_puzzle_embedding_means_no_prefix():
    net = HRM(HRMConfig(**{**SMALL, "num_puzzle_identifiers": 0}))
    assert net.input.puzzle_emb is None
    carry, logits, _ = net(net.initial_carry(2), batch_of(2))
    assert carry.z_H.shape == (2, 16, 32) and logits.shape == (2, 16, 12)


def test_gradient_reaches_only_the_final_L_and_H_updates():
    net = HRM(HRMConfig(**SMALL))
    calls = []
    for name in ("L_level", "H_level"):
        getattr(net, name).register_forward_hook(
            lambda module, args, out, name=name: calls.append((name, torch.is_grad_enabled()))
        )
    carry = net.initial_carry(2)
    carry.z_H.requires_grad_(True)
    _, logits, q_logits = net(carry, batch_of(2))
    (logits.float().sum() + q_logits.sum()).backward()

    cfg = net.config
    assert len(calls) == cfg.H_cycles * cfg.L_cycles + cfg.H_cycles
    with_grad = [name for name, grad in calls if grad]
    assert with_grad == ["L_level", "H_level"]  # exactly one of each, the last two calls
    assert calls[-2:] == [("L_level", True), ("H_level", True)]
    # Gradient still reaches the inputs through the additive injection, and the puzzle embedding.
    assert net.input.embed_tokens.weight.grad.abs().sum() > 0
    assert net.input.puzzle_emb.weight.grad is not None
    # The carried-in state came through no_grad updates only: nothing flows back into it.
    assert carry.z_H.grad is None


def test_reset_carry_resets_only_the_masked_rows():
    net = HRM(HRMConfig(**SMALL))
    carry = HRMCarry(z_H=torch.randn(3, 17, 32), z_L=torch.randn(3, 17, 32))
    reset = torch.tensor([True, False, True])
    out = net.reset_carry(reset, carry)
    for row in (0, 2):
        assert torch.equal(out.z_H[row], net.H_init.expand(17, 32))
        assert torch.equal(out.z_L[row], net.L_init.expand(17, 32))
    assert torch.equal(out.z_H[1], carry.z_H[1]) and torch.equal(out.z_L[1], carry.z_L[1])


def test_q_head_starts_at_continue():
    net = HRM(HRMConfig(**SMALL))
    _, _, q_logits = net(net.initial_carry(2), batch_of(2))
    assert torch.allclose(q_logits, torch.full_like(q_logits, -5.0))


@pytest.mark.parametrize("hidden,expected", [(256, 768), (512, 1536)])
def test_swiglu_width_matches_hrm(hidden, expected):
    from hrm.models.layers import swiglu_width

    assert swiglu_width(hidden, 4.0) == expected


def test_grid_positions_are_a_row_plus_a_column_vector_and_attention_bias_is_per_pair():
    net = HRM(HRMConfig(**{**SMALL, "pos_encoding": "grid", "attn_bias": True}))  # a 4x4 grid, plus the prefix
    assert net.input.embed_row.weight.shape == net.input.embed_col.weight.shape == (5, 32)
    assert net.input.grid_rows.tolist() == [4] + [r for r in range(4) for _ in range(4)]
    assert net.input.grid_cols.tolist() == [4] + list(range(4)) * 4
    assert net.L_level.layers[0].attn.attn_bias.shape == (4, 17, 17)
    carry, logits, _ = net(net.initial_carry(2), batch_of(2))
    assert logits.shape == (2, 16, 12)
    with pytest.raises(ValueError, match="square grid"):
        HRM(HRMConfig(**{**SMALL, "seq_len": 15, "pos_encoding": "grid"}))
    with pytest.raises(ValueError, match="positions"):
        HRM(HRMConfig(**{**SMALL, "seq_len": 1600, "attn_bias": True}))


def test_initial_weights_have_the_official_standard_deviations_at_paper_size():
    # The official init widens its truncated normal so that the values' actual std is the nominal one
    # (1/sqrt(fan_in) for linears, 1/sqrt(d) for embeddings, 1 for H_init/L_init); a plain truncation
    # at +-2 std leaves 0.88 of it.
    torch.manual_seed(0)
    net = HRM(HRMConfig(vocab_size=12, seq_len=900))  # the paper's ARC model: 512 wide, 8 heads, 4+4 layers
    samples = {name: (module.weight, 1 / math.sqrt(module.in_features))
               for name, module in net.named_modules() if isinstance(module, Linear) and name != "q_head"}
    samples["embed_tokens"] = (net.input.embed_tokens.weight, 1 / math.sqrt(512))
    samples["H_init and L_init"] = (torch.cat([net.H_init, net.L_init]), 1.0)
    for name, (values, nominal) in samples.items():
        ratio = values.std().item() / nominal
        # a sample of n values measures a std to about 0.6/sqrt(n) of it: 0.07% for a 512x512 linear
        tolerance = max(0.01, 3 * 0.6 / math.sqrt(values.numel()))
        assert abs(ratio - 1) < tolerance, (name, ratio)
        assert values.abs().max() <= 2 * nominal / TRUNCATED_STD  # still truncated at 2 of its widened stds
