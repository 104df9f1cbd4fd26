"""The agent's decision-log format, exactly as the original agent logged it, and its validation.

A log is `{"examples": [{"state": ..., "action": ..., "result": ...}, ...]}` (`.json`), or one example
per line (`.jsonl`, for appending while the agent runs). `state` holds the fields of the original agent's
`_encode_agent_state`; `action` is `{action, query?, confidence}`; `result` is `{status, knowledge_gained?}`.

Every check names the file, the example and the field, so a bad log fails with one readable line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from hrm.errors import DataFormatError
from hrm.utils.files import parse_json, read_text

ACTIONS = ("web_search", "ask_human", "propose_improvement", "idle")
STATUSES = ("completed", "approved", "pending_approval", "already_pending", "failed")

# The state fields of the original agent's `_encode_agent_state`: the ones in the original agent's own example log are
# required, the others may be missing (older logs) and read as their default.
STATE_FIELDS: dict[str, tuple[type, bool]] = {  # name -> (element or value type, required)
    "active_goals": (list, True),
    "goal_types": (list, False),
    "curiosity_count": (int, True),
    "top_curiosity": (list, True),
    "knowledge_count": (int, True),
    "recent_knowledge": (list, False),
    "recent_actions": (list, True),
    "questions_asked": (int, False),
    "searches_performed": (int, False),
    "iteration": (int, False),
    "timestamp": (str, False),
}
STATE_DEFAULTS = {"goal_types": [], "recent_knowledge": [], "questions_asked": 0, "searches_performed": 0,
                  "iteration": 0, "timestamp": ""}
ACTION_FIELDS = {"action": (str, True), "query": (str, False), "confidence": (float, True)}
RESULT_FIELDS = {"status": (str, True), "knowledge_gained": (int, False)}


def _type_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", list: "a list of strings", dict: "an object"}[kind]


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool):  # JSON true/false are not counts or confidences
        return False
    if kind is float:
        return isinstance(value, (int, float))
    if kind is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def check_fields(obj: Any, fields: dict[str, tuple[type, bool]], where: str) -> None:
    """`obj` is an object with the required `fields` (name -> (type, required)) of their types, and no others."""
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected an object, got {type(obj).__name__}")
    for name, (kind, required) in fields.items():
        if name not in obj:
            if required:
                raise DataFormatError(f"{where}: missing field {name!r}")
            continue
        if not _is(obj[name], kind):
            raise DataFormatError(f"{where}.{name}: expected {_type_name(kind)}, got {obj[name]!r}")
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise DataFormatError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(fields)})")


def validate_state(state: Any, where: str = "state") -> dict:
    """The state with defaults filled in; raises DataFormatError naming `where` and the field."""
    check_fields(state, STATE_FIELDS, where)
    for name in ("curiosity_count", "knowledge_count", "questions_asked", "searches_performed", "iteration"):
        if state.get(name, 0) < 0:
            raise DataFormatError(f"{where}.{name}: must be >= 0, got {state[name]}")
    for i, action in enumerate(state["recent_actions"]):
        if action not in ACTIONS:
            raise DataFormatError(
                f"{where}.recent_actions[{i}]: unknown action {action!r} (known: {', '.join(ACTIONS)})"
            )
    return {**STATE_DEFAULTS, **state}


def validate_action(action: Any, where: str = "action") -> dict:
    check_fields(action, ACTION_FIELDS, where)
    if action["action"] not in ACTIONS:
        raise DataFormatError(f"{where}.action: unknown action {action['action']!r} (known: {', '.join(ACTIONS)})")
    if not 0.0 <= action["confidence"] <= 1.0:
        raise DataFormatError(f"{where}.confidence: must be within 0..1, got {action['confidence']}")
    return action


def validate_result(result: Any, where: str = "result") -> dict:
    check_fields(result, RESULT_FIELDS, where)
    if result["status"] not in STATUSES:
        raise DataFormatError(f"{where}.status: unknown status {result['status']!r} (known: {', '.join(STATUSES)})")
    if result.get("knowledge_gained", 0) < 0:
        raise DataFormatError(f"{where}.knowledge_gained: must be >= 0, got {result['knowledge_gained']}")
    return result


def validate_example(example: Any, where: str) -> dict:
    check_fields(example, {"state": (dict, True), "action": (dict, True), "result": (dict, True)}, where)
    return {
        "state": validate_state(example["state"], f"{where}: state"),
        "action": validate_action(example["action"], f"{where}: action"),
        "result": validate_result(example["result"], f"{where}: result"),
    }


def load_examples(path: str | Path) -> list[dict]:
    """Read and validate a decision log (`.json` as the original agent wrote it, or `.jsonl`).

    A `.jsonl` whose last line was cut off by a kill mid-write loses that one example (with a warning);
    every other malformed line is an error."""
    path = Path(path)
    text = read_text(path, "decision log")
    if not text.strip():
        raise DataFormatError(f"{path}: the file is empty (expected {{\"examples\": [...]}} or JSON lines)")
    if path.suffix == ".jsonl":
        examples = _load_json_lines(path, text)
    else:
        data = parse_json(text, str(path))
        if not isinstance(data, dict) or "examples" not in data:
            raise DataFormatError(f"{path}: expected an object with an \"examples\" list")
        unknown = sorted(set(data) - {"examples", "metadata"})
        if unknown:
            raise DataFormatError(f"{path}: unknown top-level field {unknown[0]!r} (known: examples, metadata)")
        if not isinstance(data["examples"], list):
            raise DataFormatError(f"{path}: \"examples\" must be a list, got {type(data['examples']).__name__}")
        examples = [validate_example(ex, f"{path}: example {i}") for i, ex in enumerate(data["examples"])]
    if not examples:
        raise DataFormatError(f"{path}: the log holds no examples")
    return examples


def _load_json_lines(path: Path, text: str) -> list[dict]:
    lines = text.split("\n")
    torn = lines[-1] if lines[-1].strip() else None  # a last line without its newline: maybe cut mid-write
    examples = []
    for number, line in enumerate(lines[:-1], start=1):
        if line.strip():
            where = f"{path}: example {len(examples)} (line {number})"
            examples.append(validate_example(parse_json(line, where), where))
    if torn is not None:
        try:
            where = f"{path}: example {len(examples)} (line {len(lines)})"
            examples.append(validate_example(json.loads(torn), where))
        except (ValueError, RecursionError):  # JSONDecodeError, or a number too long to convert
            warnings.warn(f"{path}: dropped a last line cut off mid-write (line {len(lines)})", stacklevel=2)
    return examples


def episode_ids(examples: list[dict]) -> list[int]:
    """An episode per run of the agent: a new one starts wherever `iteration` does not increase."""
    episodes, episode, previous = [], 0, None
    for example in examples:
        iteration = example["state"]["iteration"]
        if previous is not None and iteration <= previous:
            episode += 1
        episodes.append(episode)
        previous = iteration
    return episodes
