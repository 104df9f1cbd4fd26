"""experiment=agent_rl: PPO and REINFORCE from an imitation checkpoint, its figures, resuming and guard rails."""

import logging

import pytest
import torch

from hrm.agent.policy import HRMPolicy
from hrm.agent.rollout import Choice, fixed_policy, play
from hrm.agent.schema import ACTIONS
from hrm.data.agent_episodes import TEST_SEEDS_START
from hrm.errors import CheckpointError, TrainingDiverged
from hrm.modules.rl_objectives import clipped_surrogate_loss, generalized_advantages
from hrm.training import run
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY, run_train


@pytest.fixture(scope="module")
def imitation(tmp_path_factory):
    """A tiny agent_imitation checkpoint to start from: it imitated a random policy, so RL has room to improve."""
    root = tmp_path_factory.mktemp("imitation")
    run(compose_train_config(["experiment=agent_imitation", *TINY, "trainer.max_steps=6", "test=false",
                              "+data.collect.policy=random"], root))
    return root / "checkpoints" / "agent_imitation_hrm_agent" / "last.ckpt"


def rl_config(root, init, *overrides):
    return compose_train_config(["experiment=agent_rl", *TINY, f"model.init_from={init}", *overrides], root)


def test_rl_raises_the_reward_above_the_imitation_policy_and_random(imitation, tmp_path, caplog):
    cfg = rl_config(tmp_path, imitation, "trainer.max_steps=30", "model.optimizer.lr=1e-3",
                    "model.rl.algorithm=reinforce", "model.rl.baseline=batch", "model.rl.gamma=0.9")
    with caplog.at_level(logging.WARNING):
        metrics = run(cfg)
    seeds = range(TEST_SEEDS_START, TEST_SEEDS_START + cfg.data.test_episodes)
    random = play(seeds, cfg.data.steps, fixed_policy("random", seeds, cfg.data.steps)).mean_reward()
    assert metrics["rl/mean_reward"] > random
    assert metrics["rl/mean_reward"] > 1.5 * metrics["rl/imitation_mean_reward"]
    for key in ("rl/teacher_mean_reward", "rl/oracle_mean_reward", "rl/optimal_mean_reward", "rl/over_teacher",
                "rl/teacher_frac_idle", "rl/imitation_frac_idle", "scenarios/hrm_accuracy",
                "scenarios/imitation_accuracy", "switch/use_hrm"):
        assert key in metrics
    assert sum(metrics[f"rl/frac_{a}"] for a in ("web_search", "ask_human", "propose_improvement", "idle")) \
        == pytest.approx(1.0)
    # In 6-decision episodes searching every time is a local optimum, and the tiny policy settles there:
    # reported as a collapse.
    assert metrics["rl/frac_web_search"] == 1.0 and metrics["rl/collapsed"] == 1.0
    assert "the policy has collapsed: it takes web_search in 100% of its decisions" in caplog.text
    # The RL checkpoint decides for an agent loop like an imitation one.
    policy = HRMPolicy.from_checkpoint(tmp_path / "checkpoints" / "agent_rl" / "last.ckpt")
    assert policy.decide(play([1], 1, fixed_policy("oracle", [1], 1)).states[0][0])["action"] == "web_search"


def test_ppo_updates_each_rollout_several_times_and_raises_the_reward(imitation, tmp_path):
    cfg = rl_config(tmp_path, imitation, "model.rl.algorithm=ppo", "model.rl.ppo_epochs=3", "trainer.max_steps=24",
                    "model.rl.ppo_minibatches=1", "model.rl.baseline=batch", "model.optimizer.lr=1e-3", "test=true")
    metrics = run(cfg)
    assert metrics["trainer/global_step"] == 24  # 8 rollouts, 3 updates each
    assert metrics["rl/mean_reward"] > 1.5 * metrics["rl/imitation_mean_reward"]


def test_the_clipped_surrogate_stops_pulling_once_the_ratio_left_the_clip():
    played = torch.log(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    log_probs = torch.log(torch.tensor([0.5, 0.7, 0.7, 0.3])).requires_grad_()
    advantages = torch.tensor([2.0, 1.0, -1.0, -1.0])
    loss = clipped_surrogate_loss(log_probs, played, advantages, clip=0.2)
    (grad,) = torch.autograd.grad(loss, log_probs)
    # ratio 1: pulled; 1.4 with a positive advantage: clipped, no pull; 1.4 with a negative one: pulled back;
    # 0.6 with a negative advantage: clipped
    assert grad[0] < 0 and grad[1] == 0 and grad[2] > 0 and grad[3] == 0
    assert loss.item() == pytest.approx(-(2.0 + 1.2 - 1.4 - 0.8) / 4)


def test_generalized_advantages_span_one_step_errors_to_returns_less_values():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 3.0]])
    values = torch.tensor([[0.3, 1.5, -0.2], [2.0, 0.1, 0.7]])
    gamma = 0.9
    returns = torch.zeros_like(rewards)
    for step in reversed(range(3)):
        returns[:, step] = rewards[:, step] + (gamma * returns[:, step + 1] if step < 2 else 0)
    # lambda 1: Monte Carlo returns less the values (the episode is worth 0 after its last step)
    assert torch.allclose(generalized_advantages(rewards, values, gamma, 1.0), returns - values)
    # lambda 0: each decision's one-step error, r + gamma * V(next) - V
    following = torch.cat([values[:, 1:], torch.zeros(2, 1)], dim=1)
    assert torch.allclose(generalized_advantages(rewards, values, gamma, 0.0), rewards + gamma * following - values)


def test_ppo_with_a_learned_critic_and_gae_trains_the_halting_head_and_reports_segments(imitation, tmp_path):
    cfg = rl_config(tmp_path, imitation, "model.rl.algorithm=ppo", "model.rl.baseline=value", "model.rl.ppo_epochs=4",
                    "model.rl.ppo_minibatches=2", "model.rl.gae_lambda=0.9", "model.rl.halt_coef=1.0",
                    "trainer.max_steps=16", "test=true")
    metrics = run(cfg)
    assert metrics["trainer/global_step"] == 16  # 2 rollouts, 4 passes over each, 2 steps a pass
    assert metrics["train/halt_loss"] > 0 and metrics["train/value_loss"] > 0
    # Decisions think 1 to halt_max_steps segments, before RL and after.
    for key in ("rl/segments", "rl/imitation_segments", "val/segments"):
        assert 1.0 <= metrics[key] <= cfg.model.act.halt_max_steps, key


def test_the_newest_imitation_checkpoint_is_found_and_a_missing_one_named(imitation, tmp_path):
    cfg = rl_config(tmp_path, imitation.parent.parent / "agent_imitation_*" / "last.ckpt", "trainer.max_steps=1",
                    "test=false")
    assert run(cfg)["trainer/global_step"] == cfg.model.rl.ppo_epochs * cfg.model.rl.ppo_minibatches  # one rollout
    with pytest.raises(CheckpointError, match="no imitation checkpoint; train one first"):
        run(rl_config(tmp_path / "elsewhere", tmp_path / "nothing" / "*.ckpt"))


def test_a_killed_rl_run_resumes_to_the_same_weights(imitation, tmp_path):
    steps = ["trainer.max_steps=6", "test=false", "logger=none"]
    run(rl_config(tmp_path / "whole", imitation, *steps))
    args = ["experiment=agent_rl", "debug=tiny", f"model.init_from={imitation}", *steps]
    killed = run_train([*args, "crash_at_step=3"], tmp_path / "killed")
    assert killed.returncode != 0
    resumed = run_train(args, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = read_checkpoint(tmp_path / "whole" / "checkpoints" / "agent_rl" / "last.ckpt")
    again = read_checkpoint(tmp_path / "killed" / "checkpoints" / "agent_rl" / "last.ckpt")
    for key, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, again["state_dict"][key]), key
    assert whole["rl_imitation"] == again["rl_imitation"]  # measured once, before the first update


def test_a_diverging_run_stops_in_one_line_and_keeps_finite_checkpoints(imitation, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"training diverged at step [1-9]\d*: the .* is (nan|inf|-inf|not"
                                               r" finite).*; stopped before updating the weights; the last good"
                                               r" checkpoint is kept"):
        run(rl_config(tmp_path, imitation, "trainer.max_steps=20", "model.optimizer.lr=1e12",
                      "model.optimizer.clip_norm=null", "callbacks.last.every_n_train_steps=1"))
    last = read_checkpoint(tmp_path / "checkpoints" / "agent_rl" / "last.ckpt")
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())


def test_one_play_gives_a_learning_policy_its_tensors_shaped_episodes_by_steps():
    teacher = fixed_policy("teacher", range(3), 4)
    calls = []

    def learning(states):  # the teacher's actions, plus what a neural policy would record: one row per world
        calls.append(len(calls))
        names = teacher(states)
        return Choice(names, {"step": torch.full((len(states),), len(calls) - 1),
                              "picked": torch.tensor([[ACTIONS.index(name)] * 2 for name in names])})

    episodes = play(range(3), 4, learning)
    assert episodes.tensors["step"].tolist() == [[0, 1, 2, 3]] * 3  # [episodes, steps]
    assert episodes.tensors["picked"].shape == (3, 4, 2)
    assert torch.equal(episodes.tensors["picked"][..., 0], episodes.action_ids())
    assert episodes.actions == play(range(3), 4, fixed_policy("teacher", range(3), 4)).actions
