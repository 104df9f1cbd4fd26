"""Pictures of ARC tasks and the model's attempts, drawn with Pillow (no plotting library needed).

One PNG per task: its demonstration pairs (input -> output), then for each test pair the input, the
target and both attempts, each attempt framed green when it is exactly right and red when it is not.
A contact sheet tiles the first few task pictures, to skim a run at a glance.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hrm.evaluation.scoring import is_matched
from hrm.utils.io import atomic_path

# The ARC palette (the colours of the official task viewer), indexed by colour 0-9.
PALETTE = np.array(
    [
        (0x00, 0x00, 0x00),  # 0 black
        (0x00, 0x74, 0xD9),  # 1 blue
        (0xFF, 0x41, 0x36),  # 2 red
        (0x2E, 0xCC, 0x40),  # 3 green
        (0xFF, 0xDC, 0x00),  # 4 yellow
        (0xAA, 0xAA, 0xAA),  # 5 grey
        (0xF0, 0x12, 0xBE),  # 6 magenta
        (0xFF, 0x85, 0x1B),  # 7 orange
        (0x7F, 0xDB, 0xFF),  # 8 light blue
        (0x87, 0x0C, 0x25),  # 9 maroon
    ],
    dtype=np.uint8,
)
CELL = 12  # pixels per cell: a 30x30 grid is 361 px wide
GRID_LINE = (85, 85, 85)  # visible both between black cells and between bright ones
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
RIGHT, WRONG = (0, 150, 0), (210, 0, 0)  # darker than palette green/red, so a frame is not a cell
FRAME = 3  # frame width; every panel reserves room for it, so grids line up whether framed or not
MARGIN, GAP, ROW_GAP, LABEL_H = 8, 28, 12, 16
CAPTION_H = 24  # contact sheet: the task id above each tile, legible however much the tile shrinks
TILE = (600, 450)  # contact-sheet tile (width, height)


@dataclass
class Panel:
    label: str
    grid: np.ndarray | None  # None: nothing to show (hidden target, no attempt)
    frame: tuple[int, int, int] | None = None


def grid_image(grid: np.ndarray, cell: int = CELL) -> Image.Image:
    """A grid as cells of `cell` px separated by 1-px lines (an empty grid: one blank cell)."""
    grid = np.asarray(grid, dtype=np.uint8)
    if grid.size == 0:
        return Image.new("RGB", (cell + 1, cell + 1), (220, 220, 220))
    h, w = grid.shape
    pixels = np.empty((h * cell + 1, w * cell + 1, 3), dtype=np.uint8)
    pixels[:-1, :-1] = np.repeat(np.repeat(PALETTE[grid], cell, axis=0), cell, axis=1)
    pixels[::cell, :] = GRID_LINE  # every cell's top and left edge, plus the last row/column
    pixels[:, ::cell] = GRID_LINE
    return Image.fromarray(pixels)


@functools.cache
def label_font(size: int = 12):
    # Pillow's bundled font; at its default size 10 the spaces between words all but vanish.
    return ImageFont.load_default(size=size)


def _draw_rows(title: str, rows: list[list[Panel]]) -> Image.Image:
    """Lay out rows of labelled panels, left-aligned, with an arrow after each row's first panel."""
    font = label_font()
    pad = FRAME + 1  # frame, then one px of white between frame and grid

    def panel_size(p: Panel, image: Image.Image) -> tuple[int, int]:
        return max(image.width + 2 * pad, int(font.getlength(p.label)) + 2), LABEL_H + image.height + 2 * pad

    images = [[grid_image(p.grid) if p.grid is not None else _missing() for p in row] for row in rows]
    sizes = [[panel_size(p, im) for p, im in zip(row, ims)] for row, ims in zip(rows, images)]
    width = 2 * MARGIN + max(
        int(font.getlength(title)),
        *(sum(w for w, _ in row) + GAP * (len(row) - 1) for row in sizes),
    )
    height = 2 * MARGIN + LABEL_H + ROW_GAP + sum(max(h for _, h in row) + ROW_GAP for row in sizes)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN), title, fill=TEXT, font=font)

    y = MARGIN + LABEL_H + ROW_GAP
    for row, ims, row_sizes in zip(rows, images, sizes):
        x = MARGIN
        for i, (p, im, (w, h)) in enumerate(zip(row, ims, row_sizes)):
            draw.text((x, y), p.label, fill=TEXT, font=font)
            gx, gy = x + pad, y + LABEL_H + pad
            canvas.paste(im, (gx, gy))
            if p.frame is not None:
                box = (gx - pad, gy - pad, gx + im.width + pad - 1, gy + im.height + pad - 1)
                draw.rectangle(box, outline=p.frame, width=FRAME)
            if i == 0 and len(row) > 1:
                _arrow(draw, x + w + 4, x + w + GAP - 4, gy + min(im.height, 4 * CELL) // 2)
            x += w + GAP
        y += max(h for _, h in row_sizes) + ROW_GAP
    return canvas


def _missing() -> Image.Image:
    """A light grey 3x3-cell box with a question mark: a grid we do not have."""
    side = 3 * CELL + 1
    image = Image.new("RGB", (side, side), (225, 225, 225))
    ImageDraw.Draw(image).text((side // 2, side // 2), "?", fill=TEXT, font=label_font(), anchor="mm")
    return image


def _arrow(draw: ImageDraw.ImageDraw, x0: int, x1: int, y: int) -> None:
    draw.line((x0, y, x1, y), fill=TEXT, width=2)
    draw.polygon([(x1, y), (x1 - 6, y - 4), (x1 - 6, y + 4)], fill=TEXT)


def save_png(image: Image.Image, path: Path) -> Path:
    """Write atomically: a viewer (or a crash) never sees half a PNG."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def render_task(task, attempts_for_its_tests: list[list[np.ndarray] | None], path) -> Path:
    """Draw one task (an ARCTask) with its attempts; attempts_for_its_tests[j] holds test pair j's
    attempts (None or missing: not evaluated). A test pair without a known output gets no frames."""
    rows = [[Panel(f"input {i + 1}", inp), Panel(f"output {i + 1}", out)]
            for i, (inp, out) in enumerate(task.train)]
    solved = known = 0
    for j, (inp, target) in enumerate(task.test):
        attempts = attempts_for_its_tests[j] if j < len(attempts_for_its_tests) else None
        attempts = list(attempts or [])[:2]
        target_label = "target" if target is not None else "target (hidden)"
        row = [Panel(f"test {j + 1} input", inp), Panel(target_label, target)]
        for a in range(2):
            grid = attempts[a] if a < len(attempts) else None
            if target is None or grid is None:
                frame = None
            else:
                frame = RIGHT if np.array_equal(grid, target) else WRONG
            row.append(Panel(f"attempt {a + 1}" if grid is not None else f"attempt {a + 1}: none", grid, frame))
        rows.append(row)
        if target is not None:
            known += 1
            solved += is_matched(attempts, target, 2)
    title = f"{task.id}   test outputs solved: {solved}/{known}" if known else f"{task.id}   (outputs hidden)"
    return save_png(_draw_rows(title, rows), path)


def contact_sheet(task_pngs: list, path, columns: int = 4, tile: tuple[int, int] = TILE) -> Path:
    """Tile the given pictures, `columns` per row (fewer if fewer), each shrunk to fit a `tile` box
    under a caption with its file name (the task id)."""
    if not task_pngs:
        raise ValueError("contact_sheet needs at least one picture")
    columns = min(columns, len(task_pngs))
    rows = math.ceil(len(task_pngs) / columns)
    sheet = Image.new("RGB", (columns * tile[0], rows * tile[1]), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, png in enumerate(task_pngs):
        with Image.open(png) as picture:
            thumb = picture.convert("RGB")
        thumb.thumbnail((tile[0] - 8, tile[1] - CAPTION_H - 4), Image.Resampling.LANCZOS)  # never enlarges
        x, y = (i % columns) * tile[0], (i // columns) * tile[1]
        draw.text((x + 4, y + 4), Path(png).stem, fill=TEXT, font=label_font(16))
        sheet.paste(thumb, (x + 4, y + CAPTION_H))  # top-left, like the pictures themselves
        draw.rectangle((x, y, x + tile[0] - 1, y + tile[1] - 1), outline=(200, 200, 200))
    return save_png(sheet, path)


def render_all(
    tasks, attempts_by_pair: dict, truths: dict, out_dir, first_k: int = 16, failures_only: bool = False
) -> list[Path]:
    """Draw the first `first_k` evaluated tasks (those with attempts), in the order given, to
    out_dir/tasks/<task_id>.png and tile them into out_dir/contact_sheet.png; return the task
    pictures. failures_only: only tasks with a known test output that no attempt matches."""
    out_dir = Path(out_dir)
    chosen = []
    for task in tasks:
        pairs = range(len(task.test))
        if not any((task.id, j) in attempts_by_pair for j in pairs):
            continue
        if failures_only and all(
            is_matched(attempts_by_pair.get((task.id, j)), truths[(task.id, j)], 2)
            for j in pairs if (task.id, j) in truths
        ):
            continue  # fully solved, or nothing known to fail
        chosen.append(task)
        if len(chosen) == first_k:
            break
    paths = [
        render_task(task, [attempts_by_pair.get((task.id, j)) for j in range(len(task.test))],
                    out_dir / "tasks" / f"{task.id}.png")
        for task in chosen
    ]
    if paths:
        contact_sheet(paths, out_dir / "contact_sheet.png")
    return paths
