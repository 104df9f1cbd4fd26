"""An agent state as the text a policy reads (then a tokenizer turns it into ids).

The fields that decide an action come first (recent actions, counts) and the free text after, so a
model reading only its first `max_tokens` tokens still sees every number. The timestamp is left out:
it is the same for no two states and says nothing about what to do.
"""

from __future__ import annotations


def state_to_text(state: dict) -> str:
    """`state` as validated by `hrm.agent.schema.validate_state` (defaults filled in)."""
    recent = " ".join(state["recent_actions"]) or "none"
    parts = [
        f"recent: {recent}.",
        f"curiosity {state['curiosity_count']}, knowledge {state['knowledge_count']},"
        f" asked {state['questions_asked']}, searched {state['searches_performed']},"
        f" iteration {state['iteration']}.",
    ]
    goals = [
        f"{kind}: {goal}" if kind else goal
        for goal, kind in zip(state["active_goals"], state["goal_types"] + [""] * len(state["active_goals"]))
    ]
    for title, items in (("goals", goals), ("curious about", state["top_curiosity"]),
                         ("knows", state["recent_knowledge"])):
        if items:
            parts.append(f"{title}: {'; '.join(items)}.")
    return " ".join(parts)
