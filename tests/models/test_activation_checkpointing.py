"""model.activation_checkpointing: the blocks recompute their activations in the backward pass, which must
give the same numbers as keeping them."""

import torch

from hrm.models.hrm import HRM, HRMConfig
from hrm.models.layers import ReasoningLevel, checkpoint_levels
from hrm.modules.reasoning import ReasoningModule

CONFIG = dict(vocab_size=12, seq_len=16, num_puzzle_identifiers=5, hidden_size=32, num_heads=4,
              H_layers=2, L_layers=2, H_cycles=2, L_cycles=2)


def loss_and_grads(recompute: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    net = HRM(HRMConfig(**CONFIG))
    if recompute:
        checkpoint_levels(net)
    g = torch.Generator().manual_seed(1)
    batch = {"inputs": torch.randint(0, 12, (3, 16), generator=g),
             "puzzle_identifiers": torch.randint(0, 5, (3,), generator=g)}
    _, logits, q = net(net.initial_carry(3), batch)
    loss = logits.float().pow(2).mean() + q.pow(2).mean()
    loss.backward()
    return loss.detach(), {name: p.grad.to_dense() for name, p in net.named_parameters() if p.grad is not None}


def test_recomputed_activations_give_the_same_loss_and_gradients():
    loss, grads = loss_and_grads(recompute=False)
    loss_recomputed, grads_recomputed = loss_and_grads(recompute=True)
    assert torch.equal(loss, loss_recomputed)
    assert grads.keys() == grads_recomputed.keys() and len(grads) > 10
    for name in grads:
        assert torch.allclose(grads[name], grads_recomputed[name], atol=1e-6, rtol=1e-5), name


def test_the_module_setting_turns_it_on_for_every_stack_and_is_saved():
    net = {"_target_": "hrm.models.hrm.HRM", **CONFIG}
    module = ReasoningModule(net=net, activation_checkpointing=True)
    levels = [m for m in module.net.modules() if isinstance(m, ReasoningLevel)]
    assert len(levels) == 2 and all(level.recompute for level in levels)
    assert module.hparams["activation_checkpointing"] is True
    assert not any(m.recompute for m in ReasoningModule(net=net).net.modules() if isinstance(m, ReasoningLevel))
