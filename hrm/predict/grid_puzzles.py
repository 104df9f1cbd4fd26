"""Sudoku and mazes through a trained token-grid model (HRM, TRM or the transformer): each puzzle's answer,
whether it solves the puzzle by the task's rule (Sudoku: a valid grid keeping the givens; maze: a shortest
path from S to G, any of them), and how many segments the model used to give it."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from hrm.data import maze, sudoku
from hrm.data.puzzles import GridPuzzles, already_batched
from hrm.errors import CheckpointError
from hrm.evaluation.voting import sigmoid
from hrm.modules.losses import IGNORE_LABEL
from hrm.predict.inputs import GridItems


@dataclass
class Answer:
    name: str
    puzzle: str  # as text, in the input's alphabet
    answer: str
    solved: bool
    equals_given_answer: bool | None  # None: the input gave no answer (a maze may have other shortest paths)
    segments: int
    confidence: float  # sigmoid of the halting logit at the segment the answer comes from


def to_tokens(items: GridItems) -> np.ndarray:
    """[N, n*n] the model's tokens (Sudoku: blank 1, digit d -> d + 1; mazes: their tokens already)."""
    return sudoku.to_tokens(items.puzzles) if items.kind == "sudoku" else items.puzzles.reshape(len(items.puzzles), -1)


def check_fits(module, items: GridItems, ckpt: str) -> None:
    """The model reads sequences of one length over one vocabulary: this input must be of them."""
    config, n = module.net.config, items.puzzles.shape[1]
    needed = sudoku.vocab_size(n) if items.kind == "sudoku" else maze.VOCAB_SIZE
    what = f"a {n}x{n} {'Sudoku' if items.kind == 'sudoku' else 'maze'} ({n * n} cells, {needed} tokens)"
    if config.seq_len != n * n or config.vocab_size != needed:
        raise CheckpointError(f"{ckpt}: the model reads {config.seq_len} cells over {config.vocab_size} tokens; "
                              f"{items.source} holds {what}")


def grid_text(kind: str, grid: np.ndarray) -> str:
    """One line per row: Sudoku digits with '.' for a blank; a maze in its own characters."""
    if kind == "sudoku":
        return "\n".join("".join(str(d) if d else "." for d in row) for row in grid)
    return "\n".join(maze.to_text(grid))


def solve(module, items: GridItems, precision: str, batch_size: int, progress: bool) -> list[Answer]:
    tokens = to_tokens(items)
    labels = np.full_like(tokens, IGNORE_LABEL)  # nothing is scored against labels: solved follows the rule
    loader = DataLoader(GridPuzzles(tokens, labels), batch_size=batch_size, collate_fn=already_batched)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False,
                        enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False)
    outputs = trainer.predict(module, dataloaders=loader)
    predictions = torch.cat([o["predictions"] for o in outputs]).numpy()
    q_halt = torch.cat([o["q_halt"] for o in outputs]).float().numpy()
    steps = torch.cat([o["steps"] for o in outputs]).numpy()
    n = items.puzzles.shape[1]
    answers = []
    for i, name in enumerate(items.names):
        puzzle = items.puzzles[i]
        if items.kind == "sudoku":
            grid = sudoku.from_tokens(predictions[i], n)
            solved = sudoku.solves(grid, puzzle)
        else:
            grid = predictions[i].reshape(n, n)
            solved = maze.is_shortest_path(grid, puzzle)  # every cell as in the maze, and a shortest path
            shown = puzzle.copy()
            shown[(grid == maze.PATH) & (puzzle == maze.OPEN)] = maze.PATH  # the path drawn into the maze
            grid = shown
        given = None if items.answers is None else bool((grid == items.answers[i]).all())
        answers.append(Answer(name, grid_text(items.kind, puzzle), grid_text(items.kind, grid), bool(solved),
                              given, int(steps[i]), sigmoid(float(q_halt[i]))))
    return answers
