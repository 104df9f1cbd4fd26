"""The planner's optimum and the episode player that every RL figure comes from."""

import statistics

import pytest
import torch

from hrm.agent.oracle import oracle_action
from hrm.agent.planner import planner
from hrm.agent.rollout import Episodes, evaluate, fixed_policy, play
from hrm.agent.scenarios import load_scenarios
from hrm.agent.world import AgentWorld
from hrm.data.scenarios import SHIPPED_SCENARIOS

SEEDS = range(500, 700)


def mean_reward(name: str, seeds=SEEDS, steps: int = 50) -> float:
    return play(seeds, steps, fixed_policy(name, seeds, steps)).mean_reward()


def test_the_planners_value_is_what_its_policy_earns():
    steps = 20
    predicted = statistics.fmean(planner(steps).value(AgentWorld(seed).state()) for seed in SEEDS)
    earned = [sum(r) for r in play(SEEDS, steps, fixed_policy("optimal", SEEDS, steps)).rewards]
    standard_error = statistics.stdev(earned) / len(earned) ** 0.5
    assert abs(statistics.fmean(earned) - predicted) < 3 * standard_error


def test_optimal_beats_the_oracle_which_beats_the_teacher_which_beats_random():
    optimal, oracle, teacher, random = (mean_reward(n) for n in ("optimal", "oracle", "teacher", "random"))
    assert optimal > oracle > teacher > random
    assert optimal > 1.03 * oracle  # looking ahead pays: the oracle is myopic


def test_with_one_decision_left_the_optimum_is_the_oracles_choice():
    """The last decision of an episode has no future: the best of it is the best expected reward now."""
    for scenario in load_scenarios(SHIPPED_SCENARIOS):
        state = scenario["state"]
        assert planner(state["iteration"] + 1).action(state) == oracle_action(state)


def test_a_state_past_the_episodes_end_is_refused():
    state = AgentWorld(0).state() | {"iteration": 50}
    with pytest.raises(ValueError, match="outside an episode of 50"):
        planner(50).action(state)


def test_play_is_deterministic_and_each_world_its_own():
    first = play([3, 4], 12, fixed_policy("teacher", [3, 4], 12))
    again = play([3, 4], 12, fixed_policy("teacher", [3, 4], 12))
    alone = play([4], 12, fixed_policy("teacher", [4], 12))
    assert first.rewards == again.rewards and first.actions == again.actions
    assert first.rewards[1] == alone.rewards[0]  # batching does not couple the episodes


def test_returns_are_discounted_rewards_to_go():
    episodes = Episodes([0], rewards=[[1.0, -2.0, 10.0]])
    assert episodes.returns(0.0).tolist() == [[1.0, -2.0, 10.0]]
    assert episodes.returns(1.0).tolist() == [[9.0, 8.0, 10.0]]
    assert torch.allclose(episodes.returns(0.5), torch.tensor([[1.0 - 1.0 + 2.5, -2.0 + 5.0, 10.0]]))


def test_evaluate_reports_the_mean_reward_and_the_action_shares():
    figures = evaluate(range(5), 10, fixed_policy("oracle", range(5), 10))
    shares = [figures[f"frac_{a}"] for a in ("web_search", "ask_human", "propose_improvement", "idle")]
    assert sum(shares) == pytest.approx(1.0)
    assert figures["mean_reward"] == pytest.approx(mean_reward("oracle", range(5), 10))


def test_a_world_with_every_topic_queued_stays_well():
    world = AgentWorld(1)
    for _ in range(90):  # questions every third action fill the queue with all 30 topics
        world.step({"action": "ask_human" if world.iteration % 3 == 0 else "idle", "confidence": 1.0})
    assert world.state()["curiosity_count"] == 30
