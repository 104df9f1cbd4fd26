"""AdamATan2, the official HRM's optimizer, against what its update must be, and as a config choice."""

import math

import torch

from hrm.optim import AdamATan2


def test_adam_atan2_first_steps_are_the_sign_of_the_gradient_times_lr_pi_over_4_after_decay():
    # From zero moments, m/(1-beta1^t) = g and sqrt(v/(1-beta2^t)) = |g| while the gradient is constant,
    # so every step is atan2(g, |g|) = +-pi/4: lr*pi/4 against the gradient's sign, whatever its scale.
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64))
    optimizer = AdamATan2([weight], lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)
    gradient = torch.tensor([1e-8, -5.0, 1e4, 0.0], dtype=torch.float64)
    expected = weight.detach().clone()
    for _ in range(3):
        weight.grad = gradient.clone()
        optimizer.step()
        expected = expected * (1 - 0.01 * 0.1) - 0.01 * math.pi / 4 * torch.sign(gradient)
    assert torch.allclose(weight.detach(), expected, rtol=0, atol=1e-12)  # atan2(0, 0) = 0: no step there


def test_adam_atan2_steps_are_bounded_where_adam_would_divide_by_a_tiny_second_moment():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = AdamATan2([weight], lr=0.1, betas=(0.9, 0.999), weight_decay=0.0)
    for gradient in (1e-3, 0.0, 0.0, 0.0, 1e-30):  # the moments decay; Adam's eps would decide the size
        weight.grad = torch.tensor([gradient])
        before = weight.detach().clone()
        optimizer.step()
        assert abs(weight.item() - before.item()) <= 0.1 * math.pi / 2 + 1e-7


def test_model_optimizer_name_picks_adam_atan2_for_a_reasoning_model(make_config):
    from hrm.training import run

    cfg = make_config("experiment=sudoku6", "debug=tiny", "logger=none", "trainer.max_steps=2",
                      "model.optimizer.name=adam_atan2")
    metrics = run(cfg)
    assert metrics["trainer/global_step"] == 2 and math.isfinite(metrics["val/loss"])
    dense = torch.load(f"{cfg.paths.ckpt_dir}/last.ckpt", weights_only=True)["optimizer_states"][0]["optimizers"][0]
    assert "eps" not in dense["param_groups"][0] and dense["state"][0]["step"] == 2  # AdamATan2's: no eps
