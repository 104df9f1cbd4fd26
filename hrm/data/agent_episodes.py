"""The episode DataModule of reinforcement learning: which seeded simulator episodes to play.

RL makes its own data by acting, so a batch here is only a list of episode seeds (and the episode
length); the module plays them with its current policy. Training seeds are fresh every epoch and
derived from (seed, epoch, index) alone, so a run resumed mid-epoch plays exactly the episodes it would
have. Validation and test play fixed held-out seeds, the same for every run and every policy, in ranges
no training or collection seed falls into; the test stage also scores the validation scenarios.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from hrm.data.sampling import ResumableSampling
from hrm.data.scenarios import ScenarioDataModule
from hrm.errors import UserError

VAL_SEEDS_START = 1_000_000_000
TEST_SEEDS_START = 2_000_000_000
TRAIN_SEEDS_BELOW = VAL_SEEDS_START  # training seeds never fall into the held-out ranges


def train_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] % TRAIN_SEEDS_BELOW)


class AgentEpisodeDataModule(ResumableSampling, L.LightningDataModule):
    def __init__(
        self,
        steps: int = 50,
        episodes_per_batch: int = 8,
        batches_per_epoch: int = 8,
        val_episodes: int = 32,
        test_episodes: int = 200,
        seed: int = 42,
        scenarios_path: str | None = None,
        teacher_seed: int = 0,
    ):
        """steps: decisions per episode (the logs' 50). episodes_per_batch: played per optimizer step.
        batches_per_epoch: steps between validations. val_episodes / test_episodes: held-out episodes.
        scenarios_path: the test stage's scenarios (None: the shipped ones)."""
        super().__init__()
        for name, value in (("steps", steps), ("episodes_per_batch", episodes_per_batch),
                            ("batches_per_epoch", batches_per_epoch), ("val_episodes", val_episodes),
                            ("test_episodes", test_episodes)):
            if value < 1:
                raise UserError(f"data.{name} must be at least 1, got {value}")
        self.steps, self.batch_size, self.seed = steps, episodes_per_batch, seed
        self.episodes_per_epoch = episodes_per_batch * batches_per_epoch
        self.val_seeds = list(range(VAL_SEEDS_START, VAL_SEEDS_START + val_episodes))
        self.test_seeds = list(range(TEST_SEEDS_START, TEST_SEEDS_START + test_episodes))
        self.scenarios = ScenarioDataModule(scenarios_path, teacher_seed=teacher_seed)

    def setup(self, stage: str | None = None) -> None:
        if stage in ("test", "predict"):
            self.scenarios.setup(stage)

    def scenario_rows(self) -> list[dict]:
        self.scenarios.setup("test")
        return self.scenarios.test_rows

    def _batch(self, seeds: list[int]) -> dict[str, torch.Tensor]:
        return {"seed": torch.tensor(seeds, dtype=torch.long), "steps": torch.tensor(self.steps)}

    def train_dataloader(self) -> DataLoader:
        sampler = self.resumable_sampler(self.episodes_per_epoch, self.seed)
        # The sampler knows the epoch (Lightning sets it before each one): each epoch plays new episodes.
        collate = lambda indices: self._batch([train_seed(self.seed, sampler.epoch, i) for i in indices])  # noqa: E731
        return DataLoader(range(self.episodes_per_epoch), batch_size=self.batch_size, sampler=sampler,
                          collate_fn=collate)

    def _held_out(self, seeds: list[int]) -> DataLoader:
        return DataLoader(seeds, batch_size=len(seeds), collate_fn=self._batch)

    def val_dataloader(self) -> DataLoader:
        return self._held_out(self.val_seeds)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._held_out(self.test_seeds), self.scenarios.test_dataloader()]
