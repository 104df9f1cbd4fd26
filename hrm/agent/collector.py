"""`TrainingDataCollector`: the original agent's Phase 1 logger, for a user's own agent loop.

    collector = TrainingDataCollector("data/agent_log.jsonl")   # appends as it goes; resumes an old log
    for iteration in ...:
        state = agent.encode_state(); action = agent.think(); result = agent.execute(action)
        collector.add_example(state, action, result)
    collector.save("data/hrm_training_data.json")              # the original agent's JSON, written atomically

With a `.jsonl` log every example is appended as one line in a single write and fsync'ed, so a kill
loses at most the example being written; a torn last line is cut off when the log is opened again.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from hrm.agent.schema import load_examples, validate_example
from hrm.errors import DataFormatError
from hrm.utils.io import atomic_write_text


class TrainingDataCollector:
    def __init__(self, log_path: str | os.PathLike | None = None):
        """log_path: a `.jsonl` file every example is appended to at once (None: keep them in memory
        until `save`). An existing log is read back and appended to."""
        self.examples: list[dict] = []
        self.log_path = None if log_path is None else Path(log_path)
        if self.log_path is None:
            return
        if self.log_path.suffix != ".jsonl":
            raise DataFormatError(f"{self.log_path}: the append log must be a .jsonl file")
        if self.log_path.exists() and self.log_path.stat().st_size > 0:
            self._cut_torn_tail()
            if self.log_path.stat().st_size > 0:
                self.examples = load_examples(self.log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def _cut_torn_tail(self) -> None:
        """A kill mid-append leaves a last line without its newline: drop it, or the next example would
        be glued onto it."""
        data = self.log_path.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        warnings.warn(f"{self.log_path}: dropped a last line cut off mid-write ({len(data) - keep} bytes)",
                      stacklevel=3)
        with open(self.log_path, "r+b") as handle:
            handle.truncate(keep)
            os.fsync(handle.fileno())

    def __len__(self) -> int:
        return len(self.examples)

    def add_example(self, state: dict, action: dict, result: dict) -> None:
        """Validate and record one decision (appending it to the log, if there is one)."""
        example = validate_example({"state": state, "action": action, "result": result}, f"example {len(self)}")
        if self.log_path is not None:
            line = (json.dumps(example, sort_keys=True) + "\n").encode()
            with open(self.log_path, "ab") as handle:
                handle.write(line)  # one write: a kill leaves a prefix of this line at worst
                handle.flush()
                os.fsync(handle.fileno())
        self.examples.append(example)

    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write every example atomically: `.json` as `{"examples": [...]}` (the original agent's format), `.jsonl` a
        line each."""
        path = Path(path)
        if path.suffix == ".jsonl":
            text = "".join(json.dumps(ex, sort_keys=True) + "\n" for ex in self.examples)
        else:
            data = {"examples": self.examples, **({"metadata": metadata} if metadata else {})}
            text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        return atomic_write_text(path, text)
