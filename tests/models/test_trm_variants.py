"""TRM as its code runs it for the published results: an MLP across the positions in place of attention
(Sudoku), no position encoding, and a 16-position puzzle prefix."""

import pytest
import torch

from hrm.models.layers import SequenceMLP
from hrm.models.trm import TRM, TRMConfig
from hrm.utils.validation import InvalidSetting

SUDOKU = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1, hidden_size=32, num_heads=2, T=2, n=2)


def batch(rows: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"inputs": torch.randint(0, 11, (rows, 81)), "puzzle_identifiers": torch.zeros(rows, dtype=torch.long)}


def test_the_mlp_mixer_mixes_positions_and_normalises_across_them():
    torch.manual_seed(0)
    mixer = SequenceMLP(positions=10, expansion=4.0, norm_eps=1e-5)
    x = torch.randn(2, 10, 8)
    out = mixer(x)
    # The TRM code's post-norm runs on the transposed state: unit RMS over the positions of each channel.
    assert torch.allclose(out.pow(2).mean(dim=1), torch.ones(2, 8), atol=1e-4)
    moved = x.clone()
    moved[:, 3] += 1.0  # one position changes ...
    changed = (mixer(moved) - out).abs().amax(dim=-1)
    assert (changed[:, [0, 9]] > 1e-4).all()  # ... and the others see it


def test_trm_with_the_mlp_mixer_has_no_attention_and_no_positions():
    model = TRM(TRMConfig(**SUDOKU, mixer="mlp", pos_encoding="none", puzzle_emb_len=16))
    names = [name for name, _ in model.named_parameters()]
    assert not any(".attn." in name or "embed_pos" in name or "embed_row" in name for name in names)
    assert model.input.rotary is None
    carry, logits, q = model(model.initial_carry(3), batch())
    assert carry.y.shape == (3, 81 + 16, 32) and logits.shape == (3, 81, 11) and q.shape == (3, 1)  # the halt logit alone


def test_a_long_prefix_is_the_puzzle_vector_then_zeros():
    model = TRM(TRMConfig(**SUDOKU, puzzle_emb_len=16))
    with torch.no_grad():
        model.input.puzzle_emb.weight.fill_(0.5)
    x = model.input.embed(batch()["inputs"], batch()["puzzle_identifiers"])
    assert x.shape == (3, 97, 32)
    assert torch.allclose(x[:, 0], torch.full((3, 32), 0.5 * model.input.scale))
    assert (x[:, 1:16] == 0).all() and (x[:, 16:] != 0).any()


def test_an_mlp_mixer_with_an_attention_bias_is_refused():
    with pytest.raises(InvalidSetting, match="attn_bias"):
        TRM(TRMConfig(**SUDOKU, mixer="mlp", attn_bias=True))
    with pytest.raises(InvalidSetting, match="mixer"):
        TRM(TRMConfig(**SUDOKU, mixer="conv"))
