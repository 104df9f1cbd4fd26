"""Voting over augmented predictions (as HRM and TRM evaluate ARC).

Each test input is run under several augmentations (dihedral transform x colour permutation). Every
prediction is cropped at its EOS marks, mapped back to the original orientation and colours, and
identical answers pool their votes. The answers are ranked by (votes, mean sigmoid(q_halt)): agreement
across augmentations first, the model's own confidence that it is done as the tie-break.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hrm.data.augment import Augmentation
from hrm.data.grids import crop_official, decode_grid

PairKey = tuple[str, int]  # (task id, index of the test pair in the task)

# What an attempt slot holds when there is no answer at all: the 1x1 black grid, the usual
# placeholder in ARC Prize submissions (a submission must give both attempts for every test pair).
PLACEHOLDER = np.zeros((1, 1), dtype=np.uint8)


@dataclass
class Prediction:
    """The model's answer for one augmented test input."""

    task_id: str
    test_index: int
    augmentation: Augmentation  # the one the input was given under; its inverse maps the answer back
    tokens: np.ndarray  # argmax tokens, canvas * canvas
    q_halt: float  # halting logit at the segment the answer comes from
    segments: int  # ACT segments the sample ran


@dataclass
class Candidate:
    """One distinct answer grid (original orientation and colours) and the predictions behind it."""

    grid: np.ndarray
    votes: int
    mean_confidence: float  # mean sigmoid(q_halt) of its voters
    mean_segments: float


def sigmoid(x: float) -> float:
    # Written so that a large |x| neither overflows exp nor loses the answer.
    x = float(x)
    if x >= 0:
        return float(1.0 / (1.0 + np.exp(-x)))
    z = np.exp(x)
    return float(z / (1.0 + z))


# How a prediction's tokens become a grid, and whether an empty grid votes:
# - "prize" (this framework's, for the ARC Prize rule): the width of the first row, then the rows that
#   fill it; an empty grid is no answer and gets no vote, so it can never outrank a real grid;
# - "official" (HRM's evaluation notebook): crop_official, and an empty grid votes like any other.
RULES = {"prize": (decode_grid, False), "official": (crop_official, True)}


def vote(predictions: Iterable[Prediction], canvas: int = 30, rule: str = "prize") -> dict[PairKey, list[Candidate]]:
    """Ranked candidates for every test pair that has a prediction, best first.

    A pair whose predictions all gave no answer maps to an empty list. Ties in (votes, confidence) keep
    first-seen order, so the result is deterministic.
    """
    read_grid, empty_votes = RULES[rule]
    # pair -> grid key -> [grid, votes, sum of confidences, sum of segments]
    tallies: dict[PairKey, dict[tuple, list]] = {}
    for p in predictions:
        pair = tallies.setdefault((p.task_id, int(p.test_index)), {})
        grid = read_grid(p.tokens, canvas)
        if grid.size == 0 and not empty_votes:
            continue
        grid = p.augmentation.invert(grid)
        key = (grid.shape, grid.tobytes())  # the shape too: a 2x3 and a 3x2 grid share their bytes
        tally = pair.setdefault(key, [grid, 0, 0.0, 0.0])
        tally[1] += 1
        tally[2] += sigmoid(p.q_halt)
        tally[3] += p.segments

    ranked = {}
    for pair, by_grid in tallies.items():
        candidates = [Candidate(g, n, conf / n, segs / n) for g, n, conf, segs in by_grid.values()]
        candidates.sort(key=lambda c: (-c.votes, -c.mean_confidence))  # stable: ties keep their order
        ranked[pair] = candidates
    return ranked


def attempts(candidates: list[Candidate], k: int = 2) -> list[np.ndarray]:
    """The top k grids, always exactly k of them.

    Missing attempts: with fewer than k candidates the best one fills the empty slots (a repeat
    scores the same as any filler but never shows an answer the model did not give); with no
    candidate at all every slot is PLACEHOLDER, the 1x1 black grid [[0]].
    """
    grids = [c.grid for c in candidates[:k]]
    if not grids:
        return [PLACEHOLDER.copy() for _ in range(k)]
    return grids + [grids[0]] * (k - len(grids))


def attempts_for_pairs(
    candidates_by_pair: dict[PairKey, list[Candidate]], k: int = 2
) -> dict[PairKey, list[np.ndarray]]:
    """`attempts` for every test pair of a `vote` result."""
    return {pair: attempts(candidates, k) for pair, candidates in candidates_by_pair.items()}


def count_variants(predictions: Iterable[Prediction]) -> int:
    """How many (task, augmentation) puzzle variants the predictions come from."""
    return len({(p.task_id, p.augmentation) for p in predictions})
