"""A random sampler that can resume in the middle of an epoch.

Lightning restores its own batch counter from a checkpoint but not the position inside a plain
DataLoader: without help, a run resumed mid-epoch would replay the epoch's first batches and never see
its last ones. This sampler draws each epoch's order from (seed, epoch) alone, so after `resume(epoch,
samples_done)` it can skip exactly the samples the interrupted run already trained on.

Under DDP every process draws the same order and takes every `num_replicas`-th sample of it, starting
at its rank: one global batch of B x N samples is the same B x N samples whatever N is (Lightning's
DistributedSampler wrapper would shuffle again and hide the position from resuming).
"""

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Sampler

from hrm.errors import CheckpointError


class ResumableRandomSampler(Sampler[int]):
    """`order(generator)`, when given, draws an epoch's `num_samples` indices itself (OneVariantPerTask);
    without it an epoch is a permutation of all samples."""

    def __init__(self, num_samples: int, seed: int, shuffle: bool = True, num_replicas: int = 1, rank: int = 0,
                 order: Callable[[torch.Generator], torch.Tensor] | None = None):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.num_samples = num_samples
        self.num_replicas, self.rank = num_replicas, rank
        self.seed = seed
        self.shuffle = shuffle
        self.order = order
        self.epoch = 0
        self._resume_epoch = -1
        self._resume_skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch (the permutation changes per epoch)."""
        self.epoch = epoch

    def resume(self, epoch: int, samples_done: int) -> None:
        """When iterating epoch `epoch` (only that one), skip its first `samples_done` indices (counted over
        all processes: the global batches already done times their size)."""
        if not 0 <= samples_done <= self.num_samples:
            raise ValueError(f"samples_done={samples_done} is outside 0..{self.num_samples}")
        self._resume_epoch, self._resume_skip = epoch, samples_done

    def __len__(self) -> int:
        # Deliberately the full epoch, even while resuming: Lightning restores its batch counter to the
        # batches already done and ends the epoch when that counter reaches len(dataloader), so the
        # length must stay the full epoch's while we yield only the remaining batches.
        # Every process gets as many samples (a tail of fewer than num_replicas is left out): one with a
        # batch more than the others would wait forever for their gradients.
        return self.num_samples // self.num_replicas

    def __iter__(self):
        # A generator: the order is computed at the first next(), after Lightning's set_epoch() (it
        # creates the iterator of the first epoch before calling set_epoch).
        epoch = self.epoch
        generator = torch.Generator()
        generator.manual_seed(epoch_seed(self.seed, epoch))
        if self.order is not None:
            order = self.order(generator)
        elif self.shuffle:
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        order = order[: len(self) * self.num_replicas]
        start = self._resume_skip if epoch == self._resume_epoch else 0
        mine = order[start + self.rank:: self.num_replicas]
        # In chunks: .tolist() of millions of indices at once would hold ~50 bytes per index.
        for chunk in mine.split(1 << 16):
            yield from chunk.tolist()


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed mixing (seed, epoch) so that no two pairs collide in practice (seed + epoch would)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)


class ResumableSampling:
    """For a LightningDataModule: a training sampler that a checkpoint can resume mid-epoch.

    Lightning restores its batch counter from a checkpoint but not the DataLoader's position, so the
    checkpoint (through this state_dict) also records how far into its epoch the sampler was. The
    DataModule needs `batch_size` and uses `resumable_sampler` in its `train_dataloader`."""

    _resume = {"epoch": 0, "samples_done": 0}
    batch_size: int

    def resumable_sampler(self, num_samples: int, seed: int, order=None) -> ResumableRandomSampler:
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        # With gradient accumulation an epoch holds whole optimizer steps: Lightning would otherwise end it
        # with a step over the few micro-batches left, a smaller batch than the recipe's (a small epoch,
        # as the per-task one, would take such a step every epoch).
        accumulate = self.trainer.accumulate_grad_batches if self.trainer else 1
        global_batch = self.batch_size * world * accumulate
        if accumulate > 1 and num_samples >= global_batch:
            num_samples -= num_samples % global_batch
        sampler = ResumableRandomSampler(num_samples, seed=seed, num_replicas=world, rank=rank, order=order)
        if self._resume["samples_done"] > num_samples:
            raise CheckpointError(
                f"checkpoint resumes after sample {self._resume['samples_done']} of an epoch of"
                f" {num_samples}: the data settings changed since it was saved"
            )
        sampler.resume(**self._resume)
        # Start at the epoch Lightning is about to run. Its own set_epoch() comes after it has created
        # the iterator, and with num_workers > 0 the workers draw indices at once; on a resumed run
        # (or when configure_optimizers asks for trainer.estimated_stepping_batches, which builds the
        # loader before the loops are restored) they would otherwise get epoch 0's order.
        fit_epoch = self.trainer.fit_loop.epoch_progress.current.processed if self.trainer else 0
        sampler.set_epoch(max(self._resume["epoch"], fit_epoch))
        return sampler

    def state_dict(self) -> dict:
        """{"epoch": the epoch to resume in, "samples_done": its samples already trained on}."""
        trainer = self.trainer
        if trainer is None:
            return dict(self._resume)
        # `processed` already counts the batch whose on_train_batch_end saves the checkpoint and is
        # exact at on_validation_end too; the DataLoader's own position would be ahead (workers prefetch).
        processed = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if processed >= trainer.num_training_batches:
            # The epoch is over (checkpoint at its last batch, at epoch end, or after fit): resume at
            # the start of the next one. `started` counts it whether or not current_epoch has moved on.
            return {"epoch": trainer.fit_loop.epoch_progress.current.started, "samples_done": 0}
        # Counted over all processes (each did `processed` batches): a resume on another number of
        # processes skips the same samples.
        return {"epoch": trainer.current_epoch, "samples_done": processed * self.batch_size * trainer.world_size}

    def load_state_dict(self, state_dict: dict) -> None:
        # Lightning calls this before it builds the train dataloader, whose sampler then skips ahead.
        resume = {key: state_dict.get(key) if isinstance(state_dict, dict) else None
                  for key in ("epoch", "samples_done")}
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in resume.values()):
            raise CheckpointError(f"the data's position in the checkpoint is not two counts: {str(state_dict)[:80]}")
        self._resume = resume


class OneVariantPerTask:
    """The official HRM/TRM training order: an epoch visits every task once, in random order, as one
    random variant of it with all that variant's samples (shuffled). Samples must be grouped by variant
    and variants by task, as ARCDataset lays them out; every variant of a task has as many samples, so
    every epoch has the same length."""

    def __init__(self, sample_variant: np.ndarray, variant_task: np.ndarray):
        sample_variant = np.asarray(sample_variant, dtype=np.int64)
        if len(sample_variant) and (np.diff(sample_variant) < 0).any():
            raise ValueError("samples are not grouped by variant")
        used = np.unique(sample_variant)
        self.variant_start = np.searchsorted(sample_variant, used)
        self.variant_size = np.searchsorted(sample_variant, used, side="right") - self.variant_start
        task_of_used = np.asarray(variant_task)[used]
        # Variants of one task are consecutive: task k owns used variants task_first[k]:task_first[k] + task_count[k].
        self.tasks, self.task_first, self.task_count = np.unique(task_of_used, return_index=True, return_counts=True)
        sizes = self.variant_size[self.task_first]
        if (self.variant_size != np.repeat(sizes, self.task_count)).any():
            raise ValueError("the variants of a task have different numbers of samples")
        self.task_size = sizes

    def __len__(self) -> int:
        return int(self.task_size.sum())

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        tasks = torch.randperm(len(self.tasks), generator=generator).numpy()
        picks = (torch.rand(len(self.tasks), generator=generator).numpy() * self.task_count).astype(np.int64)
        chunks = []
        for k in tasks:
            v = self.task_first[k] + min(picks[k], self.task_count[k] - 1)
            within = torch.randperm(int(self.variant_size[v]), generator=generator).numpy()
            chunks.append(self.variant_start[v] + within)
        return torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros(0, np.int64))
