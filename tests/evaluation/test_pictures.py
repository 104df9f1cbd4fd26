"""Task pictures, the contact sheet and the halting curve: real files, valid PNGs, sensible sizes."""

import csv

import numpy as np
import pytest
from PIL import Image

from hrm.data.arc_tasks import ARCTask, load_arc_tasks
from hrm.evaluation.halting import SegmentCurve, confident_stops, oracle_stops
from hrm.evaluation.pictures import CELL, PALETTE, TILE, contact_sheet, grid_image, render_all, render_task
from hrm.evaluation.scoring import truths_from_tasks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def open_png(path) -> Image.Image:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()  # checks the chunks and CRCs
    return Image.open(path)


@pytest.fixture(scope="module")
def tasks():
    # Sorted by id; the first few evaluation tasks have grids from 2x2 up to 30x30.
    return load_arc_tasks("arc-agi-1")[1][:6]


def oracle_attempts(tasks, solved_ids):
    """Right attempts (at attempt_2) for the tasks in solved_ids; a recoloured copy for the others."""
    attempts = {}
    for pair, truth in truths_from_tasks(tasks).items():
        wrong = truth.copy()
        wrong[0, 0] = (wrong[0, 0] + 1) % 10
        attempts[pair] = [wrong, truth] if pair[0] in solved_ids else [wrong, wrong]
    return attempts


def test_grid_image_cells_lines_and_colours():
    for h, w in [(1, 1), (2, 5), (30, 30)]:
        grid = np.arange(h * w).reshape(h, w) % 10
        image = np.asarray(grid_image(grid))
        assert image.shape == (h * CELL + 1, w * CELL + 1, 3)
        centres = image[CELL // 2 :: CELL, CELL // 2 :: CELL]
        np.testing.assert_array_equal(centres, PALETTE[grid])


def test_render_all_writes_task_pictures_and_a_contact_sheet(tmp_path, tasks):
    attempts = oracle_attempts(tasks, solved_ids={tasks[0].id})
    paths = render_all(tasks, attempts, truths_from_tasks(tasks), tmp_path, first_k=5)
    assert [p.name for p in paths] == [f"{t.id}.png" for t in tasks[:5]]
    for path, task in zip(paths, tasks):
        assert path.parent == tmp_path / "tasks"
        image = open_png(path)
        widest = max(g.shape[1] for g in task.grids())
        assert widest * CELL < image.width < 5000 and 100 < image.height < 5000
    sheet = open_png(tmp_path / "contact_sheet.png")
    assert sheet.size == (4 * TILE[0], 2 * TILE[1])  # 5 tiles, 4 per row
    assert not list(tmp_path.rglob("*.tmp"))


def test_failures_only_keeps_tasks_not_fully_solved(tmp_path, tasks):
    solved = {tasks[0].id, tasks[2].id}
    attempts = oracle_attempts(tasks, solved_ids=solved)
    paths = render_all(tasks, attempts, truths_from_tasks(tasks), tmp_path, first_k=16, failures_only=True)
    assert [p.stem for p in paths] == [t.id for t in tasks if t.id not in solved]
    assert open_png(tmp_path / "contact_sheet.png").size == (4 * TILE[0], 1 * TILE[1])


def test_frames_are_green_for_right_and_red_for_wrong(tmp_path, tasks):
    task = tasks[0]
    truth = task.test[0][1]
    image = np.asarray(open_png(render_task(task, [[truth, np.zeros((1, 1), np.uint8)]], tmp_path / "t.png")))
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (0, 150, 0) in colours and (210, 0, 0) in colours
    # A task with a hidden target and no attempts still draws, without frames.
    hidden = ARCTask(task.id, task.train, [(task.test[0][0], None)], task.source)
    image = np.asarray(open_png(render_task(hidden, [], tmp_path / "hidden.png")))
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (0, 150, 0) not in colours and (210, 0, 0) not in colours


def test_contact_sheet_with_fewer_tiles_than_columns(tmp_path, tasks):
    paths = render_all(tasks[:2], oracle_attempts(tasks[:2], set()), truths_from_tasks(tasks), tmp_path)
    assert len(paths) == 2
    assert contact_sheet(paths, tmp_path / "sheet.png", columns=4) == tmp_path / "sheet.png"
    assert open_png(tmp_path / "sheet.png").size == (2 * TILE[0], TILE[1])


def test_segment_curve_table_and_plot(tmp_path):
    # Sample i becomes right at segment i+1 and stays right; it halts at segment 2.
    correct = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool)
    curve = SegmentCurve(correct, halted_at=np.array([2, 2, 2, 4]))
    np.testing.assert_allclose(curve.accuracy, [0.25, 0.5, 0.75, 1.0])
    assert curve.mean_segments == 2.5 and curve.halted_accuracy == 0.75
    curve.write_table(tmp_path / "halting.csv")
    with open(tmp_path / "halting.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["segments"], float(r["exact_accuracy"]), r["halted"]) for r in rows] == [
        ("1", 0.25, "0"), ("2", 0.5, "3"), ("3", 0.75, "0"), ("4", 1.0, "1")]
    image = open_png(curve.plot(tmp_path / "halting.png"))
    assert image.size == (640, 420)
    with pytest.raises(ValueError):
        SegmentCurve(correct, halted_at=np.array([0, 1, 2, 3]))  # segments count from 1


def test_confident_stops_are_the_first_segment_the_head_is_that_sure_of_else_the_last():
    q_halt = np.array([[3.0, 3.0, 3.0],    # sigmoid 0.95 from the first segment
                       [0.0, 1.0, 2.5],    # 0.5, 0.73, 0.92
                       [-2.0, -2.0, -2.0]])  # never sure: the last
    assert confident_stops(q_halt, 0.5).tolist() == [1, 1, 3]
    assert confident_stops(q_halt, 0.7).tolist() == [1, 2, 3]
    assert confident_stops(q_halt, 0.9).tolist() == [1, 3, 3]
    assert confident_stops(q_halt, 0.99).tolist() == [3, 3, 3]


def test_the_oracle_stops_at_the_first_right_answer_else_at_once():
    correct = np.array([[False, True, True],    # right from segment 2
                        [True, False, True],    # right at once, though wrong again after
                        [False, False, True],   # right only at the end
                        [False, False, False]])  # never right: nothing to wait for
    assert oracle_stops(correct).tolist() == [2, 1, 3, 1]
    curve = SegmentCurve(correct, oracle_stops(correct))
    assert curve.halted_accuracy == 0.75 and curve.mean_segments == 1.75
