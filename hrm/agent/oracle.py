"""The oracle: the best action for a state under the simulator's own model (`hrm.agent.world`).

Best means the highest expected reward of this one decision. Ties go to the action earlier in
`TIE_ORDER`: idling costs the same as a question the busy human will not answer, and bothers nobody.
"""

from __future__ import annotations

from hrm.agent.world import expected_rewards

TIE_ORDER = ("idle", "web_search", "propose_improvement", "ask_human")


def best_action(values: dict[str, float]) -> str:
    """The action of highest value, ties broken by TIE_ORDER."""
    return max(TIE_ORDER, key=lambda action: (values[action], -TIE_ORDER.index(action)))


def oracle_action(state: dict) -> str:
    return best_action(expected_rewards(state))


def explain(state: dict) -> str:
    """Why the oracle chose its action: every action's expected reward, best first."""
    values = expected_rewards(state)
    ranked = sorted(TIE_ORDER, key=lambda a: (-values[a], TIE_ORDER.index(a)))
    return ", ".join(f"{action} {values[action]:+.2f}" for action in ranked)
