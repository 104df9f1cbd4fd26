"""Playing whole episodes in the simulator with any policy, a batch of worlds in lockstep.

A policy here is a `Chooser`: a function from the states of all running worlds to one action name
each, so a neural policy decides a whole batch in one forward pass. A policy that learns from its play
returns a `Choice` instead: the names, and tensors of what it read and did, one row per world. `play`
returns the trajectories (`Episodes`), with those tensors stacked [episodes, steps, ...]; `evaluate`
condenses them into the figures the RL experiment reports: mean episode reward and how often each action
was taken.

    episodes = play(seeds=range(100), steps=50, choose=fixed_policy("oracle", range(100), steps=50))
    episodes.total_rewards()        # one per episode
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

from hrm.agent.oracle import oracle_action
from hrm.agent.planner import planner
from hrm.agent.schema import ACTIONS
from hrm.agent.teacher import BootstrapTeacher
from hrm.agent.world import AgentWorld
from hrm.errors import UserError


@dataclass
class Choice:
    """One decision of every running world: the action names, and what the policy read and did ({name:
    [worlds, ...] tensor}, e.g. the token ids it read and the segments it thought)."""

    actions: list[str]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


Chooser = Callable[[list[dict]], list[str] | Choice]
FIXED_POLICIES = ("teacher", "oracle", "optimal", "random")


@dataclass
class Episodes:
    """Trajectories of a batch of episodes, indexed [episode][step]; the policy's tensors (`Choice.tensors`)
    as [episodes, steps, ...]."""

    seeds: list[int]
    states: list[list[dict]] = field(default_factory=list)
    actions: list[list[str]] = field(default_factory=list)
    rewards: list[list[float]] = field(default_factory=list)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def action_ids(self) -> torch.Tensor:
        """[episodes, steps] indices into ACTIONS of the actions taken."""
        return torch.tensor([[ACTIONS.index(action) for action in episode] for episode in self.actions],
                            dtype=torch.long)

    def total_rewards(self) -> list[float]:
        return [sum(rewards) for rewards in self.rewards]

    def mean_reward(self) -> float:
        totals = self.total_rewards()
        return sum(totals) / len(totals)

    def action_fractions(self) -> dict[str, float]:
        counts = Counter(action for episode in self.actions for action in episode)
        total = sum(counts.values())
        return {action: counts[action] / total for action in ACTIONS}

    def returns(self, gamma: float) -> torch.Tensor:
        """[episodes, steps] discounted reward-to-go from each decision (gamma=0: the reward itself)."""
        return discounted_sums(torch.tensor(self.rewards, dtype=torch.float64), gamma).float()


def discounted_sums(values: torch.Tensor, factor: float) -> torch.Tensor:
    """[episodes, steps] -> each step's sum of the values from there to the episode's end, the k-th later one
    weighted by factor^k (rewards and gamma: the returns; GAE's one-step errors and gamma * lambda: GAE)."""
    sums = torch.zeros_like(values)
    running = torch.zeros_like(values[:, 0])
    for step in reversed(range(values.shape[1])):
        running = values[:, step] + factor * running
        sums[:, step] = running
    return sums


def play(seeds: Iterable[int], steps: int, choose: Chooser) -> Episodes:
    """Run one fresh `AgentWorld(seed)` per seed for `steps` decisions, all worlds deciding together."""
    seeds = list(seeds)
    worlds = [AgentWorld(seed) for seed in seeds]
    episodes = Episodes(seeds, [[] for _ in seeds], [[] for _ in seeds], [[] for _ in seeds])
    recorded: dict[str, list[torch.Tensor]] = {}
    for _ in range(steps):
        states = [world.state() for world in worlds]
        choice = choose(states)
        choice = choice if isinstance(choice, Choice) else Choice(choice)
        for index, (world, state, name) in enumerate(zip(worlds, states, choice.actions)):
            _, reward = world.step(world.action(name, confidence=1.0))
            episodes.states[index].append(state)
            episodes.actions[index].append(name)
            episodes.rewards[index].append(reward)
        for name, tensor in choice.tensors.items():
            recorded.setdefault(name, []).append(tensor)
    episodes.tensors = {name: torch.stack(steps_taken, dim=1) for name, steps_taken in recorded.items()}
    return episodes


def fixed_policy(name: str, seeds: Iterable[int], steps: int) -> Chooser:
    """The policies that need no training, one per episode where they are random (seeded by its seed):
    `teacher` (the bootstrap teacher that made the logs, exploration included), `oracle` (the best next
    decision), `optimal` (the best rest of an episode of `steps` decisions), `random`."""
    seeds = list(seeds)
    if name == "teacher":
        teachers = [BootstrapTeacher(seed) for seed in seeds]
        return lambda states: [t.decide(s)[0] for t, s in zip(teachers, states)]
    if name == "oracle":
        return lambda states: [oracle_action(s) for s in states]
    if name == "optimal":
        return lambda states: [planner(steps).action(s) for s in states]
    if name == "random":
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        return lambda states: [ACTIONS[int(torch.randint(len(ACTIONS), (1,), generator=g))] for g in generators]
    raise UserError(f"unknown policy {name!r} (known: {', '.join(FIXED_POLICIES)})")


def evaluate(seeds: Iterable[int], steps: int, choose: Chooser) -> dict[str, float]:
    """{"mean_reward": mean episode reward, "frac_<action>": share of decisions, and for a policy that reports
    them, "segments": the mean segments a decision used} over the episodes."""
    episodes = play(seeds, steps, choose)
    figures = {"mean_reward": episodes.mean_reward()}
    if "segments" in episodes.tensors:
        figures["segments"] = float(episodes.tensors["segments"].float().mean())
    figures.update({f"frac_{action}": share for action, share in episodes.action_fractions().items()})
    return figures
