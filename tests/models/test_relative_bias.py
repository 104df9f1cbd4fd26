"""net.relative_bias: one learned attention bias per head and offset between two cells of a square grid,
the same for every pair at that offset, with heads that start from local to global."""

import pytest
import torch

from hrm.models.grid_input import grid_offsets
from hrm.models.layers import ATTN_BIAS_GAIN, LOCAL_SLOPE, Attention
from hrm.models.trm import TRM, TRMConfig
from hrm.utils.validation import InvalidSetting

GRID = dict(vocab_size=6, seq_len=25, num_puzzle_identifiers=1, hidden_size=32, num_heads=4, T=1, n=1,
            pos_encoding="grid", relative_bias=True)


def cell(side: int, prefix: int, r: int, c: int) -> int:
    return prefix + r * side + c


def test_pairs_at_the_same_offset_share_one_bias_and_the_prefix_has_its_own():
    side, prefix = 5, 1
    offsets = grid_offsets(side, prefix)
    index = offsets.index
    assert index.shape == (26, 26)
    # (1,1) -> (1,2) and (3,0) -> (3,1): one step right, anywhere on the grid
    one_right = index[cell(side, prefix, 1, 1), cell(side, prefix, 1, 2)]
    assert one_right == index[cell(side, prefix, 3, 0), cell(side, prefix, 3, 1)]
    # right and left, up and down are different offsets
    right = index[cell(side, prefix, 2, 2), cell(side, prefix, 2, 3)]
    assert len({int(right), int(index[cell(side, prefix, 2, 2), cell(side, prefix, 2, 1)]),
                int(index[cell(side, prefix, 2, 2), cell(side, prefix, 1, 2)]),
                int(index[cell(side, prefix, 2, 2), cell(side, prefix, 3, 2)])}) == 4
    assert offsets.distance[right] == 1
    assert offsets.distance[index[cell(side, prefix, 0, 0), cell(side, prefix, 4, 4)]] == 8
    # every pair with the prefix position uses the one id after the (2 side - 1)^2 grid offsets
    assert set(index[0].tolist()) == set(index[:, 0].tolist()) == {81}
    assert int(index[prefix:, prefix:].max()) == 80 and len(offsets.distance) == 82


def test_heads_start_from_local_to_global():
    offsets = grid_offsets(5, 0)
    attention = Attention(32, 4, offsets=offsets)
    with torch.no_grad():
        bias = attention.score_bias()  # [heads, 25, 25], gain included
    centre, neighbour, far = 12, 13, 0
    assert bias.shape == (4, 25, 25)
    # the first head: the cell itself over its neighbour by LOCAL_SLOPE, a neighbour over a far cell by 3x
    assert bias[0, centre, centre] - bias[0, centre, neighbour] == pytest.approx(LOCAL_SLOPE)
    assert bias[0, centre, neighbour] - bias[0, centre, far] == pytest.approx(3 * LOCAL_SLOPE)
    assert torch.all(bias[-1] == 0)  # the last head starts global (no bias)
    assert attention.relative_bias.shape == (4, 81)
    shared = attention.relative_bias.detach()[:, offsets.index[centre, neighbour]]
    assert torch.equal(bias[:, centre, neighbour], ATTN_BIAS_GAIN * shared)


def test_a_model_with_it_trains_the_bias_and_rejects_what_it_cannot_bias():
    torch.manual_seed(0)
    net = TRM(TRMConfig(**GRID))
    batch = {"inputs": torch.randint(1, 6, (2, 25)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}
    _, logits, _ = net(net.initial_carry(2), batch)
    logits.sum().backward()
    grads = [layer.attn.relative_bias.grad for layer in net.net.layers]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    with pytest.raises(InvalidSetting, match="square grid"):
        TRM(TRMConfig(**{**GRID, "seq_len": 24, "pos_encoding": "learned"}))
    with pytest.raises(InvalidSetting, match="relative_bias"):
        TRM(TRMConfig(**{**GRID, "mixer": "mlp", "pos_encoding": "none"}))


def test_the_bias_moves_attention_towards_an_offset():
    # Only the bias differs: raising one offset's bias far enough makes every cell read the cell at that
    # offset (here: the one to its right) alone, wherever it sits.
    torch.manual_seed(0)
    offsets = grid_offsets(5, 0)
    attention = Attention(32, 4, offsets=offsets)
    x = torch.randn(1, 25, 32)
    right = int(offsets.index[0, 1])
    with torch.no_grad():
        before = attention(x, None)
        attention.relative_bias[:, right] += 5.0
        after = attention(x, None)
        values = attention.qkv_proj(x).view(1, 25, 3, 4, 8)[0, :, 2]  # [positions, heads, head_dim]
    for r, c in ((0, 0), (3, 2)):
        here = 5 * r + c
        target = attention.o_proj(values[here + 1].reshape(1, 32))[0]  # the right neighbour's values, every head
        assert torch.allclose(after[0, here], target, atol=1e-4)
        assert not torch.allclose(before[0, here], target, atol=1e-2)
