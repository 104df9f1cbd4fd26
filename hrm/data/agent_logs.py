"""The agent-log DataModule: decision logs -> (state text, action) pairs for imitation.

Train and validation are split by episode (a new episode starts where `iteration` does not increase),
so no validation decision comes from a trajectory the model trained on. The test stage is the
validation scenarios (`hrm.data.scenarios`). Texts stay texts here: the model's own tokenizer encodes
them, so the data can never hand a model ids its embedding does not have.

With `collect` settings and no log at `path`, the log is made on first use by running the bootstrap
teacher in the simulator (`python -m hrm.agent.collect`), deterministically: a fresh clone trains.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from hrm.agent.collect import collect as collect_log
from hrm.agent.schema import ACTIONS, episode_ids, load_examples
from hrm.agent.text import state_to_text
from hrm.agent.world import calculate_reward
from hrm.data.sampling import ResumableSampling
from hrm.data.scenarios import ScenarioDataModule
from hrm.errors import UserError
from hrm.utils.files import read_json

log = logging.getLogger(__name__)


class AgentLogDataModule(ResumableSampling, L.LightningDataModule):
    def __init__(
        self,
        path: str,
        collect: dict | None = None,
        val_fraction: float = 0.2,
        batch_size: int = 24,
        eval_batch_size: int | None = None,
        seed: int = 42,
        scenarios_path: str | None = None,
        teacher_seed: int = 0,
    ):
        """path: the decision log (.json or .jsonl). collect: {episodes, steps, seed, policy} to build the
        log at `path` when it is missing (None: it must exist). val_fraction: of the episodes, held out.
        scenarios_path: the test stage's scenarios (None: the shipped ones)."""
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise UserError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
        self.path = Path(path)
        self.collect_settings = dict(collect) if collect else None
        self.val_fraction, self.batch_size, self.seed = val_fraction, batch_size, seed
        self.eval_batch_size = eval_batch_size or batch_size
        self.scenarios = ScenarioDataModule(scenarios_path, batch_size=self.eval_batch_size, teacher_seed=teacher_seed)
        self.train_rows: list[dict] | None = None
        self.val_rows: list[dict] | None = None

    def prepare_data(self) -> None:
        if self.path.exists():
            self._check_collected_with_these_settings()
            return
        if self.collect_settings is None:
            raise UserError(f"{self.path}: no such decision log (collect one: python -m hrm.agent.collect --out ...)")
        log.info("collecting %s with %s", self.path, self.collect_settings)
        collect_log(self.path, progress=False, **self.collect_settings)

    def _check_collected_with_these_settings(self) -> None:
        """A log this module collected earlier with other settings would silently change the run."""
        if self.collect_settings is None or self.path.suffix != ".json":
            return
        try:
            data = read_json(self.path, "decision log")
        except UserError:
            return  # load_examples reports a malformed file with its line and column
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(metadata, dict):
            return
        asked = {"policy": "teacher", **self.collect_settings}
        made = {key: metadata.get(key) for key in asked}
        if metadata.get("collected_by") == "hrm.agent.collect" and made != asked:
            raise UserError(f"{self.path}: collected with {made}, not {asked}; delete it to collect again"
                            " (or point data.path elsewhere)")

    def setup(self, stage: str | None = None) -> None:
        if stage in ("test", "predict"):
            self.scenarios.setup(stage)
            return
        if self.train_rows is not None:  # idempotent: train.py calls it before building the model
            return
        examples = load_examples(self.path)
        episodes = episode_ids(examples)
        order = sorted(set(episodes))
        random.Random(self.seed).shuffle(order)
        held_out = set(order[: max(1, round(len(order) * self.val_fraction))])
        if len(held_out) == len(order):
            raise UserError(f"{self.path}: one episode only; validation needs episodes of its own"
                            " (a new episode starts where state.iteration does not increase)")
        rows = [{"text": state_to_text(ex["state"]), "label": ACTIONS.index(ex["action"]["action"]),
                 "reward": calculate_reward(ex["action"], ex["result"])} for ex in examples]
        self.train_rows = [row for row, ep in zip(rows, episodes) if ep not in held_out]
        self.val_rows = [row for row, ep in zip(rows, episodes) if ep in held_out]
        log.info("agent log %s: %d episodes, %d train / %d val decisions", self.path, len(order),
                 len(self.train_rows), len(self.val_rows))

    def train_texts(self) -> list[str]:
        """What a vocabulary may be built from (never the validation or test texts)."""
        return [row["text"] for row in self.train_rows]

    def train_dataloader(self) -> DataLoader:
        sampler = self.resumable_sampler(len(self.train_rows), self.seed)
        return DataLoader(self.train_rows, batch_size=self.batch_size, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_rows, batch_size=self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.scenarios.test_dataloader()
