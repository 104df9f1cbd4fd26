"""ARC scores and the files an evaluation leaves behind.

Three rules, all over the tasks that have known test outputs:
- pass@k (the ARC Prize rule): a test output counts if any of the first k attempts matches it exactly;
  a task scores the fraction of its test outputs that count; the score is the mean over tasks.
  pass@2 is the number the ARC Prize reports.
- all-correct@k: a task counts 1 only if every one of its test outputs counts (same votes as pass@k).
- official pass@k (HRM's and TRM's evaluation notebook, what their papers report): votes of the
  official crop with empty grids voting too (voting.RULES["official"]), and a task counts only if every
  one of its test outputs is among its k best candidates.
pass@k and all-correct@k differ only on tasks with several test outputs (about 5% of ARC-AGI-1
evaluation); the official rule also differs where the model predicts ragged or empty grids.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from hrm.evaluation.voting import Candidate, PairKey, attempts_for_pairs
from hrm.utils.io import atomic_write_text

Attempts = dict[PairKey, list[np.ndarray]]  # test pair -> its attempts, best first
Truths = dict[PairKey, np.ndarray]  # test pair -> its known output


@dataclass
class ARCScores:
    pass_at_1: float
    pass_at_2: float  # the ARC Prize score
    all_correct_at_2: float
    num_tasks: int
    num_test_outputs: int
    num_variants: int  # (task, augmentation) puzzle variants that voted


@dataclass
class TaskRow:
    task_id: str
    test_outputs: int
    solved_count: int  # test outputs matched by attempt_1 or attempt_2
    solved: bool  # all of them
    winner_votes: list[int]  # votes of attempt_1, per test pair (0: no real grid was predicted)
    mean_segments: float  # over the task's non-empty predictions; nan when there were none


def truths_from_tasks(tasks) -> Truths:
    """The known test outputs of `tasks` (ARCTask), keyed like the votes."""
    return {(t.id, j): out for t in tasks for j, (_, out) in enumerate(t.test) if out is not None}


def is_matched(attempts: list[np.ndarray] | None, truth: np.ndarray, k: int = 2) -> bool:
    """Does one of the first k attempts equal `truth` exactly (shape included)?"""
    return attempts is not None and any(np.array_equal(a, truth) for a in attempts[:k])


def _matches_by_task(attempts_by_pair, truths, k: int) -> dict[str, list[bool]]:
    """Task id -> whether each of its known test outputs is matched. A pair with no attempts is wrong."""
    by_task = defaultdict(list)
    for (task_id, j), truth in sorted(truths.items(), key=lambda item: item[0]):
        by_task[task_id].append(is_matched(attempts_by_pair.get((task_id, j)), truth, k))
    return by_task


def pass_at_k(attempts_by_pair: Attempts, truths: Truths, k: int = 2) -> float:
    """Mean over tasks of the fraction of their test outputs matched within k attempts (0 if no task)."""
    by_task = _matches_by_task(attempts_by_pair, truths, k)
    return float(np.mean([np.mean(m) for m in by_task.values()])) if by_task else 0.0


def all_correct_at_k(attempts_by_pair: Attempts, truths: Truths, k: int = 2) -> float:
    """Fraction of tasks whose every test output is matched within k attempts (0 if no task)."""
    by_task = _matches_by_task(attempts_by_pair, truths, k)
    return float(np.mean([all(m) for m in by_task.values()])) if by_task else 0.0


def official_pass_at_k(candidates_by_pair: dict[PairKey, list[Candidate]], truths: Truths, k: int) -> float:
    """Fraction of tasks whose every known test output is one of the k best candidates of its pair (0 if
    no task). No attempt is filled in: a pair with fewer than k candidates has only those."""
    by_task = defaultdict(list)
    for (task_id, j), truth in truths.items():
        top = [c.grid for c in candidates_by_pair.get((task_id, j), [])[:k]]
        by_task[task_id].append(is_matched(top, truth, k))
    return float(np.mean([all(m) for m in by_task.values()])) if by_task else 0.0


def score(
    candidates_by_pair: dict[PairKey, list[Candidate]], truths: Truths, num_variants: int = 0
) -> tuple[ARCScores, list[TaskRow]]:
    """Scores of a `vote` result against the known outputs, and one row per task (sorted by id).
    `num_variants` is only reported (voting.count_variants of the predictions gives it)."""
    attempts = attempts_for_pairs(candidates_by_pair, k=2)
    scores = ARCScores(
        pass_at_1=pass_at_k(attempts, truths, 1),
        pass_at_2=pass_at_k(attempts, truths, 2),
        all_correct_at_2=all_correct_at_k(attempts, truths, 2),
        num_tasks=len({task_id for task_id, _ in truths}),
        num_test_outputs=len(truths),
        num_variants=num_variants,
    )
    rows = []
    for task_id, matches in sorted(_matches_by_task(attempts, truths, 2).items()):
        pairs = sorted(j for t, j in truths if t == task_id)
        candidates = [c for j in pairs for c in candidates_by_pair.get((task_id, j), [])]
        votes = sum(c.votes for c in candidates)
        rows.append(TaskRow(
            task_id=task_id,
            test_outputs=len(matches),
            solved_count=sum(matches),
            solved=all(matches),
            winner_votes=[_winner_votes(candidates_by_pair.get((task_id, j))) for j in pairs],
            mean_segments=sum(c.votes * c.mean_segments for c in candidates) / votes if votes else math.nan,
        ))
    return scores, rows


def _winner_votes(candidates: list[Candidate] | None) -> int:
    return candidates[0].votes if candidates else 0


def write_submission(path, attempts_by_pair: Attempts) -> None:
    """The ARC Prize submission: {task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}, one entry
    per test pair in order. Every task must have attempts for test pairs 0..n-1 without a gap."""
    by_task = defaultdict(dict)
    for (task_id, j), grids in attempts_by_pair.items():
        if len(grids) < 2:
            raise ValueError(f"task {task_id} test pair {j}: need two attempts, got {len(grids)}")
        by_task[task_id][j] = {"attempt_1": _as_lists(grids[0]), "attempt_2": _as_lists(grids[1])}
    lines = []
    for task_id in sorted(by_task):
        pairs = by_task[task_id]
        if sorted(pairs) != list(range(len(pairs))):
            raise ValueError(f"task {task_id}: attempts for test pairs {sorted(pairs)}, not 0..{len(pairs) - 1}")
        entries = [pairs[j] for j in range(len(pairs))]
        lines.append(f"{json.dumps(task_id)}: {json.dumps(entries, separators=(',', ':'))}")
    # One task per line: valid JSON that stays small (no one-int-per-line indent) and easy to diff.
    atomic_write_text(path, "{\n" + ",\n".join(lines) + "\n}\n")


def write_votes(path, candidates_by_pair: dict[PairKey, list[Candidate]], top: int = 5) -> None:
    """Per test input, its best `top` answers with their votes, mean halting confidence (sigmoid(q_halt))
    and mean segments: {task_id: [{"test_index": j, "variants_voting": n, "candidates": [...]}, ...]},
    one task per line."""
    by_task = defaultdict(list)
    for (task_id, j), candidates in sorted(candidates_by_pair.items()):
        by_task[task_id].append({"test_index": j, "variants_voting": sum(c.votes for c in candidates),
                                 "candidates": [{"grid": _as_lists(c.grid), "votes": c.votes,
                                                 "confidence": round(c.mean_confidence, 4),
                                                 "segments": round(c.mean_segments, 2)} for c in candidates[:top]]})
    lines = [f"{json.dumps(task_id)}: {json.dumps(entries, separators=(',', ':'))}" for task_id, entries in
             sorted(by_task.items())]
    atomic_write_text(path, "{\n" + ",\n".join(lines) + "\n}\n")


def _as_lists(grid: np.ndarray) -> list[list[int]]:
    return np.asarray(grid).astype(int).tolist()  # plain ints: numpy's uint8 is not JSON


CSV_COLUMNS = ("task_id", "test_outputs", "solved", "all_solved", "winner_votes", "mean_segments")


def write_per_task_csv(path, rows: list[TaskRow]) -> None:
    """One line per task. solved = fraction of its test outputs matched (its pass@2 score);
    all_solved = 1/0; winner_votes = attempt_1's votes, ';'-separated for tasks with several test pairs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([
            r.task_id,
            r.test_outputs,
            f"{r.solved_count / r.test_outputs:.4g}" if r.test_outputs else "0",
            int(r.solved),
            ";".join(str(v) for v in r.winner_votes),
            "" if math.isnan(r.mean_segments) else f"{r.mean_segments:.2f}",
        ])
    atomic_write_text(path, buffer.getvalue())
