"""The decision-log format of the original agent, and one-line errors for every way a log can be wrong."""

import json

import pytest

from hrm.agent.schema import episode_ids, load_examples, validate_state
from hrm.errors import DataFormatError

# The original design's own example log, verbatim: it must load.
SEED_EXAMPLE = {
    "examples": [{
        "state": {
            "active_goals": ["Deeply understand my own architecture"],
            "curiosity_count": 3,
            "top_curiosity": ["efficient attention mechanisms"],
            "knowledge_count": 5,
            "recent_actions": ["web_search", "idle", "ask_human"],
        },
        "action": {"action": "web_search", "query": "transformer attention mechanisms", "confidence": 0.67},
        "result": {"status": "completed", "knowledge_gained": 5},
    }]
}


def write(tmp_path, data, name="log.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_seeds_example_log_loads_with_defaults_for_the_fields_it_leaves_out(tmp_path):
    [example] = load_examples(write(tmp_path, SEED_EXAMPLE))
    assert example["action"]["action"] == "web_search"
    assert example["state"]["questions_asked"] == 0 and example["state"]["goal_types"] == []


def broken(**changes):
    data = json.loads(json.dumps(SEED_EXAMPLE))
    example = data["examples"][0]
    for dotted, value in changes.items():
        part, field = dotted.split("__")
        if value is KeyError:
            del example[part][field]
        else:
            example[part][field] = value
    return data


@pytest.mark.parametrize("data, message", [
    ('{"examples": [ {"state": }', r"log.json: not valid JSON: .* at line 1 column 26"),
    ("", r"log.json: the file is empty"),
    ({"examples": []}, r"log.json: the log holds no examples"),
    ({"rows": []}, r"log.json: expected an object with an \"examples\" list"),
    (broken(state__knowledge_count=KeyError), r"example 0: state: missing field 'knowledge_count'"),
    (broken(state__mood="curious"), r"example 0: state: unknown field 'mood'"),
    (broken(action__action="dance"), r"example 0: action.action: unknown action 'dance'"),
    (broken(state__recent_actions=["web_search", "nap"]), r"state.recent_actions\[1\]: unknown action 'nap'"),
    (broken(state__curiosity_count="three"), r"state.curiosity_count: expected an integer, got 'three'"),
    (broken(state__curiosity_count=True), r"state.curiosity_count: expected an integer, got True"),
    (broken(action__confidence=1.5), r"action.confidence: must be within 0..1, got 1.5"),
    (broken(action__confidence=KeyError), r"action: missing field 'confidence'"),
    (broken(result__status="done"), r"result.status: unknown status 'done'"),
    (broken(state__active_goals="learn"), r"state.active_goals: expected a list of strings"),
    ({"examples": [{"state": [], "action": {}, "result": {}}]}, r"example 0.state: expected an object, got \[\]"),
])
def test_a_bad_log_gets_one_line_naming_the_file_the_example_and_the_field(tmp_path, data, message):
    with pytest.raises(DataFormatError, match=message) as error:
        load_examples(write(tmp_path, data))
    assert "\n" not in str(error.value)


def test_json_lines_name_the_line_and_a_torn_last_line_is_dropped_with_a_warning(tmp_path):
    line = json.dumps(SEED_EXAMPLE["examples"][0])
    path = write(tmp_path, f"{line}\n{line}\n{line[:40]}", "log.jsonl")
    with pytest.warns(UserWarning, match="cut off mid-write"):
        assert len(load_examples(path)) == 2
    path = write(tmp_path, f"{line}\n{line[:40]}\n{line}\n", "log.jsonl")
    with pytest.raises(DataFormatError, match=r"log.jsonl: example 1 \(line 2\): not valid JSON"):
        load_examples(path)


def test_episodes_start_where_the_iteration_does_not_increase():
    states = [{"state": {"iteration": i}} for i in (0, 1, 2, 0, 1, 5, 5)]
    assert episode_ids(states) == [0, 0, 0, 1, 1, 1, 2]


def test_validate_state_names_where_the_state_came_from():
    with pytest.raises(DataFormatError, match=r"^state: expected an object, got list"):
        validate_state([], "state")
