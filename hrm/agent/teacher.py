"""The bootstrap teacher: a heuristic standing in for the original agent's GPT-2 decision maker.

Good but imperfect, like GPT-2 was: it chooses as the oracle does but believes two of the simulator's
rules with the wrong threshold (a proposal is approved with 6 pieces of knowledge instead of 8; the
human is busy for 1 action after a question instead of 2), and it picks a random action 5% of the time.
Its confidence is the softmax probability of its choice under the values it believes. On its own
trajectories it agrees with the oracle on about 90% of decisions.
"""

from __future__ import annotations

import math
import random

from hrm.agent.oracle import best_action
from hrm.agent.schema import ACTIONS
from hrm.agent.world import expected_rewards

BELIEFS = {"approval_knowledge": 6, "busy_window": 1}
EXPLORATION = 0.05
TEMPERATURE = 2.0


class BootstrapTeacher:
    def __init__(self, seed: int = 0, exploration: float = EXPLORATION):
        self.rng = random.Random(seed)
        self.exploration = exploration

    def decide(self, state: dict) -> tuple[str, float]:
        """(action, confidence)."""
        values = expected_rewards(state, **BELIEFS)
        if self.rng.random() < self.exploration:
            action = self.rng.choice(ACTIONS)
        else:
            action = best_action(values)
        weights = {a: math.exp(v / TEMPERATURE) for a, v in values.items()}
        return action, round(weights[action] / sum(weights.values()), 3)
