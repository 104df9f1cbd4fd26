"""The optimal policy of the simulator, by backward induction: the ceiling any learned policy can reach.

The oracle (`hrm.agent.oracle`) maximises one decision's expected reward. This planner maximises the
expected reward of the rest of the episode. Everything the simulator's rules read fits in a small
state: the curiosity count, the knowledge count, actions since the last question (1, 2, or 3 for
"not among the last two") and since the last proposal (1-5, or 6 for "not under review"), and the
decisions left. Dynamic programming over that state, for every number of decisions left, gives the best
expected total and the action that achieves it. Knowledge above `KNOWLEDGE_CAP` counts as the cap
(no episode of 50 decisions gets near it).
"""

from __future__ import annotations

import functools

import numpy as np

from hrm.agent.oracle import TIE_ORDER
from hrm.agent.world import (APPROVAL_KNOWLEDGE, BLIND_SEARCH_SUCCESS, FOLLOW_UP, HUMAN_BUSY_WINDOW, REVIEW_WINDOW,
                             SEARCH_KNOWLEDGE, SEARCH_SUCCESS, SPONTANEOUS_CURIOSITY, TOPICS, calculate_reward)

CURIOSITY_CAP = len(TOPICS)  # the world never holds the same topic twice
KNOWLEDGE_CAP = 96
SINCE_ASK = HUMAN_BUSY_WINDOW + 1  # values 1..3; 3: the human is free
SINCE_PROPOSAL = REVIEW_WINDOW + 1  # values 1..6; 6: nothing under review


def _reward(action: str, **result) -> float:
    return calculate_reward({"action": action}, result)


def _shift(values: np.ndarray, axis: int, by: int, cap: int) -> np.ndarray:
    """values at index min(i + by, cap) along `axis` (by may be negative; indices below 0 are never read)."""
    index = np.clip(np.arange(values.shape[axis]) + by, 0, cap)
    return np.take(values, index, axis=axis)


class Planner:
    """`value(state, left)` and `action(state, left)` for a state as the world logs it."""

    def __init__(self, steps: int):
        self.steps = steps
        shape = (CURIOSITY_CAP + 1, KNOWLEDGE_CAP + 1, SINCE_ASK, SINCE_PROPOSAL)
        self.values = [np.zeros(shape)]  # values[left]: expected total reward with `left` decisions to go
        self.best: list[np.ndarray | None] = [None]  # best[left]: index into TIE_ORDER
        for _ in range(steps):
            q = self._action_values(self.values[-1])
            self.best.append(q.argmax(0))  # argmax keeps the first of equal values: TIE_ORDER breaks ties
            self.values.append(q.max(0))

    def _action_values(self, later: np.ndarray) -> np.ndarray:
        """[4 (TIE_ORDER), *shape] expected totals of each action now, given the values one decision later."""
        c, k, ask, proposal = (np.arange(n).reshape([-1 if i == axis else 1 for i in range(4)])
                               for axis, n in enumerate(later.shape))
        # A spontaneous question may arise after any action.
        after = (1 - SPONTANEOUS_CURIOSITY) * later + SPONTANEOUS_CURIOSITY * _shift(later, 0, 1, CURIOSITY_CAP)
        older_ask = _shift(after, 2, 1, SINCE_ASK - 1)  # one more action since the last question ...
        q = {}
        for name in TIE_ORDER:
            # ... and since the last proposal, unless this action is one.
            nxt = older_ask if name != "ask_human" else np.repeat(after[:, :, :1], SINCE_ASK, axis=2)
            nxt = _shift(nxt, 3, 1, SINCE_PROPOSAL - 1) if name != "propose_improvement" else \
                np.repeat(nxt[:, :, :, :1], SINCE_PROPOSAL, axis=3)
            q[name] = getattr(self, f"_{name}")(nxt, c, k, ask, proposal)
        return np.stack([np.broadcast_to(q[name], later.shape) for name in TIE_ORDER])

    @staticmethod
    def _idle(nxt, c, k, ask, proposal):
        return _reward("idle", status="completed") + nxt

    @staticmethod
    def _web_search(nxt, c, k, ask, proposal):
        popped = _shift(nxt, 0, -1, CURIOSITY_CAP)  # the top question is searched and leaves the queue
        low, high = SEARCH_KNOWLEDGE
        found_each = SEARCH_SUCCESS / (high - low + 1)
        answered = (1 - SEARCH_SUCCESS) * (_reward("web_search", knowledge_gained=0) + popped)
        for found in range(low, high + 1):
            gained = _shift(popped, 1, found, KNOWLEDGE_CAP)
            follow_up = _shift(gained, 0, 1, CURIOSITY_CAP)
            answered = answered + found_each * (_reward("web_search", knowledge_gained=found)
                                                + (1 - FOLLOW_UP) * gained + FOLLOW_UP * follow_up)
        blind = (1 - BLIND_SEARCH_SUCCESS) * (_reward("web_search", knowledge_gained=0) + nxt) + \
            BLIND_SEARCH_SUCCESS * (_reward("web_search", knowledge_gained=1) + _shift(nxt, 1, 1, KNOWLEDGE_CAP))
        return np.where(c > 0, answered, blind)

    @staticmethod
    def _ask_human(nxt, c, k, ask, proposal):
        answered = _reward("ask_human", status="completed") + 0.5 * (
            _shift(nxt, 0, 1, CURIOSITY_CAP) + _shift(nxt, 0, 2, CURIOSITY_CAP))  # 1 or 2 new topics
        busy = _reward("ask_human", status="failed") + nxt
        return np.where(ask + 1 < SINCE_ASK, busy, answered)

    @staticmethod
    def _propose_improvement(nxt, c, k, ask, proposal):
        approved = _reward("propose_improvement", status="approved") + _shift(nxt, 1, -APPROVAL_KNOWLEDGE, KNOWLEDGE_CAP)
        waiting = _reward("propose_improvement", status="pending_approval") + nxt
        pending = _reward("propose_improvement", status="already_pending") + nxt
        return np.where(proposal + 1 < SINCE_PROPOSAL, pending, np.where(k >= APPROVAL_KNOWLEDGE, approved, waiting))

    def _index(self, state: dict) -> tuple[int, int, int, int, int]:
        recent = state["recent_actions"]
        since_ask = next((n for n in range(1, SINCE_ASK) if len(recent) >= n and recent[-n] == "ask_human"), SINCE_ASK)
        since_proposal = next((n for n in range(1, SINCE_PROPOSAL)
                               if len(recent) >= n and recent[-n] == "propose_improvement"), SINCE_PROPOSAL)
        left = self.steps - state["iteration"]
        if not 1 <= left <= self.steps:
            raise ValueError(f"iteration {state['iteration']} is outside an episode of {self.steps} decisions")
        return (left, min(state["curiosity_count"], CURIOSITY_CAP), min(state["knowledge_count"], KNOWLEDGE_CAP),
                since_ask - 1, since_proposal - 1)

    def action(self, state: dict) -> str:
        left, *index = self._index(state)
        return TIE_ORDER[int(self.best[left][tuple(index)])]

    def value(self, state: dict) -> float:
        """The best expected total reward from `state` to the end of the episode."""
        left, *index = self._index(state)
        return float(self.values[left][tuple(index)])


@functools.cache
def planner(steps: int) -> Planner:
    return Planner(steps)
