import pytest
import torch
from omegaconf import OmegaConf

from hrm.errors import UserError
from hrm.modules.reasoning import ReasoningModule
from hrm.optim import OptimizerGroup, SparseSignSGD
from hrm.utils.compose import CONFIG_DIR

# The token-grid models' optimizer settings, as their YAML states them (the module holds no defaults).
OPTIMIZER = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "model" / "base" / "token_grid.yaml").optimizer)

NET = {"_target_": "hrm.models.hrm.HRM", "vocab_size": 12, "seq_len": 8, "num_puzzle_identifiers": 6,
       "hidden_size": 32, "num_heads": 4, "H_layers": 1, "L_layers": 1, "H_cycles": 2, "L_cycles": 1}


def batch_of(size=4):
    g = torch.Generator().manual_seed(0)
    return {"inputs": torch.randint(0, 12, (size, 8), generator=g),
            "labels": torch.randint(0, 12, (size, 8), generator=g),
            "puzzle_identifiers": torch.arange(size) % 6}


def module_with_q_bias(halt: float, cont: float, **act) -> ReasoningModule:
    module = ReasoningModule(net=NET, act={"halt_max_steps": 5, **act})
    with torch.no_grad():
        module.net.q_head.weight.zero_()
        module.net.q_head.bias.copy_(torch.tensor([halt, cont]))
    return module


def test_evaluation_runs_every_row_to_halt_max_steps_by_default():
    result = module_with_q_bias(3.0, 0.0).run_to_halt(batch_of()).rows
    assert result.steps.tolist() == [5, 5, 5, 5] and result.valid.all()


def test_evaluation_halting_lets_the_q_head_stop_rows_early():
    result = module_with_q_bias(3.0, 0.0, eval_halting=True).run_to_halt(batch_of()).rows
    assert result.steps.tolist() == [1, 1, 1, 1]
    result = module_with_q_bias(-3.0, 0.0, eval_halting=True).run_to_halt(batch_of()).rows
    assert result.steps.tolist() == [5, 5, 5, 5]


def test_a_halting_confidence_stops_only_rows_the_q_head_is_that_sure_of():
    # halt logit 1.0: sigmoid 0.73, above the training rule's 0.5 (and the continue logit), below 0.9
    assert module_with_q_bias(1.0, 0.0, eval_halting=True).run_to_halt(batch_of()).rows.steps.tolist() == [1] * 4
    sure = module_with_q_bias(1.0, 0.0, eval_halting=True, eval_halt_confidence=0.9).run_to_halt(batch_of())
    assert sure.rows.steps.tolist() == [5] * 4
    assert torch.allclose(sure.q_halt_by_segment, torch.full((4, 5), 1.0))
    # the confidence replaces the continue comparison: halting 0.73 sure beats a continue logit of 3
    assert module_with_q_bias(1.0, 3.0, eval_halting=True).run_to_halt(batch_of()).rows.steps.tolist() == [5] * 4
    lenient = module_with_q_bias(1.0, 3.0, eval_halting=True, eval_halt_confidence=0.7).run_to_halt(batch_of())
    assert lenient.rows.steps.tolist() == [1] * 4
    with pytest.raises(UserError, match="eval_halt_confidence"):
        module_with_q_bias(1.0, 0.0, eval_halt_confidence=1.5)


def test_puzzle_embeddings_get_their_own_sign_sgd_inside_one_optimizer():
    module = ReasoningModule(net=NET, optimizer={**OPTIMIZER, "lr": 1e-3, "warmup_steps": 0, "puzzle_emb_lr": 0.5,
                                                  "puzzle_emb_weight_decay": 0.0})
    optimizer = module.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, OptimizerGroup)
    adamw, sign_sgd = optimizer.optimizers
    assert isinstance(sign_sgd, SparseSignSGD)
    assert sign_sgd.param_groups[0]["params"] == [module.net.input.puzzle_emb.weight]
    assert all(p is not module.net.input.puzzle_emb.weight for p in adamw.param_groups[0]["params"])

    batch = batch_of()  # puzzle ids 0..3: rows 4 and 5 of the table are not in the batch
    before = module.net.input.puzzle_emb.weight.detach().clone()
    loss = module.training_step(batch, 0)
    loss.backward()
    assert module.net.input.puzzle_emb.weight.grad.is_sparse
    optimizer.step()
    after = module.net.input.puzzle_emb.weight.detach()
    moved = (after - before).abs()
    assert torch.all(moved[:4].max(-1).values > 0)
    assert torch.allclose(moved[:4][moved[:4] > 0], torch.tensor(0.5))  # sign-SGD: steps of exactly lr
    assert torch.equal(after[4:], before[4:])  # rows absent from the batch are untouched


def test_optimizer_group_state_round_trips():
    module = ReasoningModule(net=NET, optimizer=OPTIMIZER)
    optimizer = module.configure_optimizers()["optimizer"]
    module.training_step(batch_of(), 0).backward()
    optimizer.step()
    fresh = ReasoningModule(net=NET, optimizer=OPTIMIZER).configure_optimizers()["optimizer"]
    fresh.load_state_dict(optimizer.state_dict())
    saved = optimizer.optimizers[0].state_dict()["state"]
    loaded = fresh.optimizers[0].state_dict()["state"]
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)


def test_an_optimizer_setting_left_out_is_one_line_naming_it():
    settings = {key: value for key, value in OPTIMIZER.items() if key != "puzzle_emb_lr"}
    with pytest.raises(UserError, match=r"model.optimizer: puzzle_emb_lr not set"):
        ReasoningModule(net=NET, optimizer=settings).configure_optimizers()
