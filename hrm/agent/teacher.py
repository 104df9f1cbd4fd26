"""The bootstrap teacher: a heuristic standing in for the seeds' GPT-2 decision maker.

Good but imperfect, like GPT-2 was: it follows the simulator's rules with two beliefs slightly off
(approval at 6 pieces of knowledge instead of 8, a human busy for 1 action instead of 2) and values of
its own, and it picks a random action 5% of the time. On its own trajectories it agrees with the oracle
on about 90% of decisions. Its confidence is the softmax
probability of its choice under its own action values.
"""

from __future__ import annotations

import math
import random

from hrm.agent.schema import ACTIONS

APPROVAL_BELIEF = 6
REVIEW_BELIEF = 5
BUSY_BELIEF = 1
EXPLORATION = 0.05
TEMPERATURE = 2.0


def teacher_values(state: dict) -> dict[str, float]:
    """What the teacher believes each action is worth."""
    recent = state["recent_actions"]
    if "propose_improvement" in recent[-REVIEW_BELIEF:]:
        propose = -2.0
    elif state["knowledge_count"] >= APPROVAL_BELIEF:
        propose = 8.0
    else:
        propose = 0.8
    return {
        "web_search": 1.5 if state["curiosity_count"] > 0 else -0.3,
        "ask_human": -0.2 if "ask_human" in recent[-BUSY_BELIEF:] else 0.4,
        "propose_improvement": propose,
        "idle": -0.1,
    }


class BootstrapTeacher:
    def __init__(self, seed: int = 0, exploration: float = EXPLORATION):
        self.rng = random.Random(seed)
        self.exploration = exploration

    def decide(self, state: dict) -> tuple[str, float]:
        """(action, confidence)."""
        values = teacher_values(state)
        if self.rng.random() < self.exploration:
            action = self.rng.choice(ACTIONS)
        else:
            action = max(ACTIONS, key=values.__getitem__)
        weights = {a: math.exp(v / TEMPERATURE) for a, v in values.items()}
        return action, round(weights[action] / sum(weights.values()), 3)
