"""The validation-scenario DataModule: states with their optimal action, for a policy's test stage.

Each batch also holds the teacher's decision in every scenario, so the test stage can compare the
trained policy with the teacher it imitated (the original agent's switch rule). The bootstrap teacher decides
here, seeded, as it did when the logs were collected.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from hrm.agent.scenarios import load_scenarios
from hrm.agent.schema import ACTIONS
from hrm.agent.teacher import BootstrapTeacher
from hrm.agent.text import state_to_text
from hrm.errors import UserError

# The shipped scenarios, beside the code in a clone: data/validation_scenarios.json.
SHIPPED_SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "validation_scenarios.json"


def scenario_rows(path: str | Path, teacher_seed: int) -> list[dict]:
    teacher = BootstrapTeacher(teacher_seed)
    rows = []
    for scenario in load_scenarios(path):
        state = scenario["state"]
        rows.append({"text": state_to_text(state), "label": ACTIONS.index(scenario["optimal_action"]),
                     "teacher_label": ACTIONS.index(teacher.decide(state)[0])})
    return rows


class ScenarioDataModule(L.LightningDataModule):
    def __init__(self, path: str | None = None, batch_size: int = 100, teacher_seed: int = 0):
        """path: a scenario file (None: the 100 shipped in data/validation_scenarios.json)."""
        super().__init__()
        self.path = Path(path) if path else SHIPPED_SCENARIOS
        self.batch_size, self.teacher_seed = batch_size, teacher_seed
        self.test_rows: list[dict] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.test_rows is None:
            self.test_rows = scenario_rows(self.path, self.teacher_seed)

    # Nothing to train on (or to build a word vocabulary from) here: one line instead of Lightning's error.
    def train_texts(self) -> list[str]:
        raise self._evaluation_only()

    def train_dataloader(self) -> DataLoader:
        raise self._evaluation_only()

    @staticmethod
    def _evaluation_only() -> UserError:
        return UserError("data=scenarios only evaluates a trained policy: add train=false ckpt_path=<file>"
                         " (or train with data=agent_logs)")

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_rows, batch_size=self.batch_size, shuffle=False)
