"""Adaptive computation time (ACT) with Q-learning halting, and deep supervision's carry.

Model-agnostic: any net with `initial_carry(batch_size, device)`, `reset_carry(mask, carry)` and
`forward(carry, batch) -> (carry, logits, q_logits)` can be driven here (HRM, TRM, a plain transformer).

Training runs one segment per optimizer step. The `ACTCarry` persists across steps: a row keeps its
puzzle until it halts, then takes the puzzle at its position in the next batch and starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from hrm.modules.losses import IGNORE_LABEL
from hrm.utils.validation import at_least, between


@dataclass
class ACTConfig:
    halt_max_steps: int = 16  # segments at most per puzzle
    halt_exploration_prob: float = 0.1  # chance a row must run a random minimum number of segments
    # Halt on the halt logit alone, no continue target, no extra forward (TRM's ACT). A net without a continue
    # output (`halting_outputs`: TRM) runs so whatever this says.
    no_continue: bool = False
    eval_halting: bool = False  # at evaluation, stop each row when its Q head says halt
    # How sure the Q head must be, at evaluation, to stop a row: stop once sigmoid(q_halt) reaches it. The
    # head is trained to predict whether the current answer is exact; at its training rule (None: halt logit
    # above 0, or above the continue logit) a head trained on a short budget stops rows it is unsure of and
    # gives their answers away. `hrm.bench learn` reports exact accuracy against segments for several values.
    eval_halt_confidence: float | None = None

    def __post_init__(self):
        at_least(self, 1, "halt_max_steps")
        between(self, 0, 1, "halt_exploration_prob", "eval_halt_confidence")


@dataclass
class ACTCarry:
    inner: Any  # the model's own recurrent state, a dataclass of tensors (e.g. HRMCarry)
    steps: torch.Tensor  # [B] int32, segments run on the current puzzle
    halted: torch.Tensor  # [B] bool, the row finished at the last segment and will be replaced
    data: dict[str, torch.Tensor]  # the puzzle each row is working on

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors in dicts: what a checkpoint loaded with weights_only=True can hold."""
        inner = {f.name: getattr(self.inner, f.name) for f in fields(self.inner)}
        return {"inner": inner, "steps": self.steps, "halted": self.halted, "data": dict(self.data)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], inner_type: type) -> "ACTCarry":
        """The carry `state_dict` saved; anything else (a forged or foreign checkpoint) raises TypeError."""
        tensors = [*state["inner"].values(), state["steps"], state["halted"], *state["data"].values()]
        if not all(isinstance(t, torch.Tensor) for t in tensors):
            raise TypeError("the carry holds something other than tensors")
        rows = {t.shape[0] if t.dim() else -1 for t in tensors}
        if len(rows) != 1:
            raise TypeError("the carry's tensors disagree on the batch size")
        return cls(inner=inner_type(**state["inner"]), steps=state["steps"], halted=state["halted"],
                   data=dict(state["data"]))

    def to(self, device: torch.device | str) -> "ACTCarry":
        inner = type(self.inner)(**{f.name: getattr(self.inner, f.name).to(device) for f in fields(self.inner)})
        data = {key: value.to(device) for key, value in self.data.items()}
        return ACTCarry(inner, self.steps.to(device), self.halted.to(device), data)


@dataclass
class SegmentOutput:
    logits: torch.Tensor  # [B, seq, vocab]
    q_halt: torch.Tensor  # [B]
    q_continue: torch.Tensor | None  # [B]; None for a net that has no continue output (TRM)
    target_q_continue: torch.Tensor | None  # [B], bootstrapped from the next segment (training only)


def initial_act_carry(net, batch: dict[str, torch.Tensor]) -> ACTCarry:
    """All rows start 'halted', so the first segment loads every row from the batch."""
    inputs = batch["inputs"]
    size = inputs.shape[0]
    return ACTCarry(
        inner=net.initial_carry(size, inputs.device),
        steps=torch.zeros(size, dtype=torch.int32, device=inputs.device),
        halted=torch.ones(size, dtype=torch.bool, device=inputs.device),
        data={key: torch.zeros_like(value) for key, value in batch.items()},
    )


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view((-1,) + (1,) * (like.ndim - 1))


def wants_to_halt(q_halt: torch.Tensor, q_continue: torch.Tensor | None, config: ACTConfig) -> torch.Tensor:
    """The Q head's decision: halt when halting is worth more than continuing (halt logit only: when q_halt > 0)."""
    halt_only = config.no_continue or q_continue is None
    return q_halt > (torch.zeros_like(q_halt) if halt_only else q_continue)


def stops_at_evaluation(q_halt: torch.Tensor, q_continue: torch.Tensor | None, config: ACTConfig) -> torch.Tensor:
    """Where an evaluated row stops (with `eval_halting`): once the Q head is `eval_halt_confidence` sure its
    answer is exact, or by the training rule when that is None."""
    if config.eval_halt_confidence is None:
        return wants_to_halt(q_halt, q_continue, config)
    return torch.sigmoid(q_halt.float()) >= config.eval_halt_confidence


def act_segment(
    net,
    carry: ACTCarry,
    batch: dict[str, torch.Tensor],
    config: ACTConfig,
    training: bool,
    generator: torch.Generator | None = None,
) -> tuple[ACTCarry, SegmentOutput]:
    """Run one segment; rows that halted last time first take their new puzzle from `batch`."""
    inner = net.reset_carry(carry.halted, carry.inner)
    steps = torch.where(carry.halted, 0, carry.steps)
    data = {key: torch.where(_rows(carry.halted, value), batch[key], value) for key, value in carry.data.items()}

    inner, logits, q_logits = net(inner, data)
    # The net's halting outputs: (halt, continue), or the halt logit alone (`net.halting_outputs`).
    q_halt, q_continue = q_logits[..., 0], (q_logits[..., 1] if q_logits.shape[-1] > 1 else None)
    target_q_continue = None

    with torch.no_grad():
        steps = steps + 1
        is_last = steps >= config.halt_max_steps
        halted = is_last
        if config.halt_max_steps > 1 and (training or config.eval_halting):
            halted = halted | wants_to_halt(q_halt, q_continue, config)
        if training and config.halt_max_steps > 1:
            # Exploration: some rows are made to run at least k segments, k uniform in 2..max.
            size = steps.shape[0]
            explore = torch.rand(size, generator=generator) < config.halt_exploration_prob
            min_steps = explore * torch.randint(2, config.halt_max_steps + 1, (size,), generator=generator)
            halted = halted & (steps >= min_steps.to(steps.device))
            if q_continue is not None and not config.no_continue:
                # Q-learning target for "continue": the value of the best action one segment later.
                _, _, next_q = net(inner, data)
                next_halt, next_continue = next_q[..., 0], next_q[..., 1]
                target_q_continue = torch.sigmoid(
                    torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue))
                )

    new_carry = ACTCarry(inner=inner, steps=steps, halted=halted, data=data)
    return new_carry, SegmentOutput(logits, q_halt, q_continue, target_q_continue)


@dataclass
class SegmentLoss:
    """What is backpropagated (`total`) and logged as losses: means over the batch."""

    total: torch.Tensor  # scalar
    lm_loss: torch.Tensor  # detached scalars
    q_halt_loss: torch.Tensor
    q_continue_loss: torch.Tensor


@dataclass
class RowOutputs:
    """What is scored, one entry per row ([B], or [B, seq] for predictions); no gradient."""

    valid: torch.Tensor  # the row has labels (and, in training, halted on this segment)
    token_accuracy: torch.Tensor
    exact: torch.Tensor
    q_halt_correct: torch.Tensor
    steps: torch.Tensor
    q_halt: torch.Tensor  # halting logits (their sigmoid is the model's confidence)
    predictions: torch.Tensor  # [B, seq] argmax tokens

    @staticmethod
    def stack(segments: list["RowOutputs"]) -> "RowOutputs":
        """Each field with a segment dimension after the row: [B, segments, ...]."""
        return RowOutputs(**{f.name: torch.stack([getattr(rows, f.name) for rows in segments], dim=1)
                             for f in fields(RowOutputs)})

    def at(self, segment: torch.Tensor) -> "RowOutputs":
        """From stacked outputs, each row's values at its own segment (`segment`: [B] indices)."""
        rows = torch.arange(segment.shape[0], device=segment.device)
        return RowOutputs(**{f.name: getattr(self, f.name)[rows, segment] for f in fields(RowOutputs)})


@dataclass
class HaltedRun:
    """A batch run to halting (evaluation): the last segment's losses, each row's outputs at the segment
    where it stopped, and whether stopping at each segment would have been exact ([B, segments])."""

    loss: SegmentLoss
    rows: RowOutputs
    exact_by_segment: torch.Tensor
    q_halt_by_segment: torch.Tensor  # [B, segments] halting logits: where other halting rules would stop


def segment_loss(carry: ACTCarry, out: SegmentOutput, token_loss, solved=None) -> tuple[SegmentLoss, RowOutputs]:
    """HRM's loss: lm_loss + 0.5 * (q_halt_loss + q_continue_loss), each a mean over sequences, and the
    rows' outputs it was computed from. `solved(predictions, inputs, labels) -> [B] bool` decides what
    counts as exact (and so what the halt head learns to recognise); by default, equality with the labels."""
    labels = carry.data["labels"]
    mask = labels != IGNORE_LABEL
    counts = mask.sum(-1)
    divisor = counts.clamp_min(1)

    with torch.no_grad():
        predictions = out.logits.argmax(-1)
        correct = mask & (predictions == labels)
        exact = correct.sum(-1) == counts
        if solved is not None:
            exact = solved(predictions, carry.data["inputs"], labels).to(exact.device)

    lm_loss = (token_loss(out.logits, labels).sum(-1) / divisor).mean()
    q_halt_loss = F.binary_cross_entropy_with_logits(out.q_halt, exact.float())
    if out.target_q_continue is not None:
        q_continue_loss = F.binary_cross_entropy_with_logits(out.q_continue, out.target_q_continue)
    else:
        q_continue_loss = torch.zeros_like(q_halt_loss)

    loss = SegmentLoss(
        total=lm_loss + 0.5 * (q_halt_loss + q_continue_loss),
        lm_loss=lm_loss.detach(),
        q_halt_loss=q_halt_loss.detach(),
        q_continue_loss=q_continue_loss.detach(),
    )
    return loss, RowOutputs(
        valid=carry.halted & (counts > 0),
        token_accuracy=correct.sum(-1) / divisor,
        exact=exact,
        q_halt_correct=(out.q_halt >= 0) == exact,
        steps=carry.steps,
        q_halt=out.q_halt.detach(),
        predictions=predictions,
    )
