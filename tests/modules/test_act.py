import torch

from hrm.models.hrm import HRM, HRMConfig
from hrm.models.trm import TRM, TRMConfig
from hrm.modules.act import ACTConfig, RowOutputs, act_segment, initial_act_carry, segment_loss
from hrm.modules.losses import IGNORE_LABEL, softmax_cross_entropy, stablemax_cross_entropy

NET = dict(vocab_size=12, seq_len=8, num_puzzle_identifiers=4, hidden_size=32, num_heads=4,
           H_layers=1, L_layers=1, H_cycles=2, L_cycles=2)


def make_batch(seed: int, size: int = 4):
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": torch.randint(0, 12, (size, 8), generator=g),
        "labels": torch.randint(0, 12, (size, 8), generator=g),
        "puzzle_identifiers": torch.randint(0, 4, (size,), generator=g),
    }


def test_halted_rows_take_the_next_batch_and_restart():
    torch.manual_seed(0)
    net = HRM(HRMConfig(**NET))
    config = ACTConfig(halt_max_steps=3, halt_exploration_prob=0.0)
    first, second = make_batch(1), make_batch(2)
    carry = initial_act_carry(net, first)
    carry, _ = act_segment(net, carry, first, config, training=True)
    assert torch.equal(carry.data["inputs"], first["inputs"])  # all rows start halted: all loaded
    assert carry.steps.tolist() == [1, 1, 1, 1]

    carry.halted = torch.tensor([True, False, False, True])
    carry, _ = act_segment(net, carry, second, config, training=True)
    # rows 0 and 3 took their puzzle from the new batch and restarted their count
    for row, source, steps in ((0, second, 1), (1, first, 2), (2, first, 2), (3, second, 1)):
        assert torch.equal(carry.data["inputs"][row], source["inputs"][row])
        assert carry.steps[row] == steps

    def one_segment_from_scratch(batch, row):
        z, _, _ = net(net.initial_carry(1), {key: value[row : row + 1] for key, value in batch.items()})
        return z.z_H[0]

    # a restarted row began from the initial state: it matches one fresh segment of its new puzzle...
    torch.testing.assert_close(carry.inner.z_H[0], one_segment_from_scratch(second, 0))
    # ...while a continuing row carried its state on: it is two segments into its puzzle, not one
    assert not torch.allclose(carry.inner.z_H[1], one_segment_from_scratch(first, 1), atol=1e-3)


def test_every_row_halts_at_halt_max_steps():
    torch.manual_seed(0)
    net = HRM(HRMConfig(**NET))
    config = ACTConfig(halt_max_steps=3, halt_exploration_prob=0.0)
    batch = make_batch(3)
    carry = initial_act_carry(net, batch)
    halted_at = []
    for _ in range(3):
        carry, _ = act_segment(net, carry, batch, config, training=False)
        halted_at.append(carry.halted.all().item())
    assert halted_at == [False, False, True]


def test_q_continue_target_bootstraps_from_the_next_segment():
    torch.manual_seed(0)
    net = HRM(HRMConfig(**NET))
    with torch.no_grad():  # make halting and continuing values differ so max() matters
        net.q_head.weight.normal_(0, 0.5)
        net.q_head.bias.zero_()
    config = ACTConfig(halt_max_steps=2, halt_exploration_prob=0.0)
    batch = make_batch(4)
    carry = initial_act_carry(net, batch)
    carry.halted = torch.zeros(4, dtype=torch.bool)  # keep rows running...
    carry.data = dict(batch)
    carry.steps = torch.tensor([0, 1, 0, 1], dtype=torch.int32)  # ...rows 1 and 3 reach the last step now
    new_carry, out = act_segment(net, carry, batch, config, training=True)

    _, _, next_q = net(new_carry.inner, new_carry.data)  # the extra forward of the next segment
    next_halt, next_continue = next_q.unbind(-1)
    is_last = torch.tensor([False, True, False, True])
    expected = torch.sigmoid(torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue)))
    torch.testing.assert_close(out.target_q_continue, expected)

    # the halt target is "the whole sequence is right", the continue loss uses the bootstrapped target
    result, rows = segment_loss(new_carry, out, softmax_cross_entropy)
    labels = new_carry.data["labels"]
    exact = (out.logits.argmax(-1) == labels).all(-1)
    assert torch.equal(rows.exact, exact)
    expected_q = torch.nn.functional.binary_cross_entropy_with_logits(out.q_continue, expected)
    torch.testing.assert_close(result.q_continue_loss, expected_q)


def test_no_continue_mode_skips_the_extra_forward():
    torch.manual_seed(0)
    net = HRM(HRMConfig(**NET))
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    batch = make_batch(5)
    carry = initial_act_carry(net, batch)
    _, out = act_segment(net, carry, batch, ACTConfig(halt_max_steps=4, no_continue=True), training=True)
    assert out.target_q_continue is None and len(calls) == 1
    calls.clear()
    _, out = act_segment(net, carry, batch, ACTConfig(halt_max_steps=4), training=True)
    assert out.target_q_continue is not None and len(calls) == 2


def test_a_net_with_the_halt_output_alone_halts_on_it_and_needs_no_continue_target():
    torch.manual_seed(0)
    net = TRM(TRMConfig(vocab_size=12, seq_len=8, num_puzzle_identifiers=4, hidden_size=32, num_heads=4, layers=1, T=2,
                          n=1))
    assert net.halting_outputs == ("halt",)
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    batch = make_batch(5)
    with torch.no_grad():
        net.q_head.weight.zero_()
        net.q_head.bias.fill_(1.0)  # "halt" for every row
    config = ACTConfig(halt_max_steps=4, halt_exploration_prob=0.0)  # no_continue left False
    new_carry, out = act_segment(net, initial_act_carry(net, batch), batch, config, training=True)
    assert out.q_continue is None and out.target_q_continue is None and len(calls) == 1
    assert new_carry.halted.all()  # halted on q_halt > 0, after one segment
    result, rows = segment_loss(new_carry, out, softmax_cross_entropy)
    assert float(result.q_continue_loss) == 0.0


def test_stablemax_matches_its_definition_and_ignores_padding():
    logits = torch.tensor([[[2.0, -1.0, 0.5]], [[0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0], [IGNORE_LABEL]])
    loss = stablemax_cross_entropy(logits, labels)
    s = torch.tensor([3.0, 0.5, 1.5])  # x+1 for x >= 0, 1/(1-x) below
    assert torch.isclose(loss[0, 0], -torch.log(s[0] / s.sum()))
    assert loss[1, 0] == 0


def test_stablemax_gradient_is_finite_at_logit_one():
    logits = torch.tensor([[[1.0, 0.0, -2.0]]], requires_grad=True)
    stablemax_cross_entropy(logits, torch.tensor([[2]])).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_each_row_is_scored_at_the_segment_where_it_stopped():
    def segment(k: int) -> RowOutputs:  # three rows, every value saying which segment it came from
        rows = torch.full((3,), k)
        return RowOutputs(valid=rows > 0, token_accuracy=rows / 10, exact=rows == 1, q_halt_correct=rows == 2,
                          steps=rows + 1, q_halt=rows.float(), predictions=rows.view(3, 1).expand(3, 4))

    stacked = RowOutputs.stack([segment(0), segment(1), segment(2)])
    assert stacked.predictions.shape == (3, 3, 4) and stacked.exact.tolist()[0] == [False, True, False]
    picked = stacked.at(torch.tensor([2, 0, 1]))
    assert picked.steps.tolist() == [3, 1, 2] and picked.exact.tolist() == [False, False, True]
    assert picked.predictions.tolist() == [[2] * 4, [0] * 4, [1] * 4] and picked.q_halt.tolist() == [2.0, 0.0, 1.0]
