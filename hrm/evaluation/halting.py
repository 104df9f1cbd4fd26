"""How accuracy depends on the number of ACT segments: the curve behind "think longer, score higher".

For every evaluated sample we know whether its answer was exactly right after each segment
1..max_segments (the model is run to the end regardless) and where its Q-head chose to halt. The curve
"accuracy if every sample stopped at segment s" shows what more thinking buys; the point
(mean segments used, accuracy at the halts) shows where the learnt halting lands on it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hrm.evaluation.pictures import save_png
from hrm.utils.io import atomic_write_text


def confident_stops(q_halt: np.ndarray, confidence: float) -> np.ndarray:
    """[samples] the first segment (1..max_segments) where the halting head is `confidence` sure, i.e.
    sigmoid(q_halt) >= confidence, else the last. `q_halt`: logits [samples, max_segments]."""
    q_halt = np.asarray(q_halt, dtype=np.float64)
    sure = 1.0 / (1.0 + np.exp(-q_halt)) >= confidence
    sure[:, -1] = True
    return sure.argmax(axis=1) + 1


def oracle_stops(correct: np.ndarray) -> np.ndarray:
    """[samples] where a halting rule that knows the answers stops: the first segment whose answer is right,
    else at once (segment 1). No rule keeps as many answers with fewer segments: the bound on what halting
    can save for a model whose answers come at those segments. `correct`: bool [samples, max_segments]."""
    correct = np.asarray(correct, dtype=bool)
    return np.where(correct.any(axis=1), correct.argmax(axis=1) + 1, 1)


@dataclass
class SegmentCurve:
    correct: np.ndarray  # bool [num_samples, max_segments]: exactly right after segment s (column s-1)
    halted_at: np.ndarray  # int [num_samples]: the segment (1..max_segments) where each sample halted

    def __post_init__(self):
        self.correct = np.asarray(self.correct, dtype=bool)
        self.halted_at = np.asarray(self.halted_at, dtype=np.int64)
        if self.correct.ndim != 2 or self.correct.shape[1] == 0:
            raise ValueError(f"correct must be [samples, max_segments], got {self.correct.shape}")
        if self.halted_at.shape != (len(self.correct),):
            raise ValueError(f"halted_at must be [{len(self.correct)}], got {self.halted_at.shape}")
        if len(self.halted_at) and not (1 <= self.halted_at.min() and self.halted_at.max() <= self.max_segments):
            raise ValueError(f"halted_at must lie in 1..{self.max_segments}")

    @property
    def max_segments(self) -> int:
        return self.correct.shape[1]

    @property
    def segments(self) -> np.ndarray:
        return np.arange(1, self.max_segments + 1)

    @property
    def accuracy(self) -> np.ndarray:
        """[max_segments]: exact accuracy if every sample stopped after segment s."""
        return self.correct.mean(axis=0) if len(self.correct) else np.zeros(self.max_segments)

    @property
    def mean_segments(self) -> float:
        return float(self.halted_at.mean()) if len(self.halted_at) else math.nan

    @property
    def halted_accuracy(self) -> float:
        """Exact accuracy with every sample stopping where it chose to halt."""
        if not len(self.halted_at):
            return math.nan
        return float(self.correct[np.arange(len(self.correct)), self.halted_at - 1].mean())

    @property
    def halted_count(self) -> np.ndarray:
        """[max_segments]: how many samples halted at segment s."""
        return np.bincount(self.halted_at - 1, minlength=self.max_segments)

    def write_table(self, path) -> None:
        """CSV: segments, exact_accuracy (all stop there), halted (samples that chose to stop there)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("segments", "exact_accuracy", "halted"))
        for s, acc, n in zip(self.segments, self.accuracy, self.halted_count):
            writer.writerow((int(s), f"{acc:.6f}", int(n)))
        atomic_write_text(path, buffer.getvalue())

    def plot(self, path, size: tuple[int, int] = (640, 420)) -> Path:
        """A line plot of the table, with the halting point marked; drawn with Pillow."""
        width, height = size
        left, right, top, bottom = 64, 20, 36, 52  # room for tick labels and axis titles
        image = Image.new("RGB", size, (255, 255, 255))
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=12)
        x0, x1, y0, y1 = left, width - right, height - bottom, top  # y grows downwards in pixels
        # y up to the next 0.1 above the best accuracy, so a weak model's curve is not a flat line.
        y_max = min(1.0, max(0.1, math.ceil(float(self.accuracy.max(initial=0)) * 10 + 1e-9) / 10))
        span = max(self.max_segments - 1, 1)

        def px(s: float, acc: float) -> tuple[float, float]:
            return x0 + (s - 1) / span * (x1 - x0), y0 - acc / y_max * (y0 - y1)

        tick = 0.2 if y_max > 0.6 else 0.1 if y_max >= 0.3 else 0.05 if y_max >= 0.2 else 0.02  # 4-7 ticks
        for i in range(int(round(y_max / tick)) + 1):  # y ticks with light grid lines
            acc = i * tick
            _, y = px(1, acc)
            draw.line((x0, y, x1, y), fill=(230, 230, 230))
            draw.line((x0 - 4, y, x0, y), fill=(0, 0, 0))
            draw.text((x0 - 6, y), f"{acc:.{1 if tick >= 0.1 else 2}f}", fill=(0, 0, 0), font=font, anchor="rm")
        step = max(1, math.ceil(self.max_segments / 16))  # at most ~16 x tick labels
        for s in range(1, self.max_segments + 1, step):
            x, _ = px(s, 0)
            draw.line((x, y0, x, y0 + 4), fill=(0, 0, 0))
            draw.text((x, y0 + 6), str(s), fill=(0, 0, 0), font=font, anchor="mt")
        draw.line((x0, y0, x1, y0), fill=(0, 0, 0))
        draw.line((x0, y0, x0, y1), fill=(0, 0, 0))
        draw.text(((x0 + x1) / 2, height - 6), "segments (all samples stop here)", fill=(0, 0, 0), font=font,
                  anchor="md")
        draw.text((x0 - 56, y1 - 22), "exact accuracy", fill=(0, 0, 0), font=font)

        points = [px(s, a) for s, a in zip(self.segments, self.accuracy)]
        if len(points) > 1:
            draw.line(points, fill=(0, 116, 217), width=2)
        for x, y in points:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(0, 116, 217))
        if len(self.halted_at):  # the learnt halting: mean segments used vs the accuracy it got
            x, y = px(self.mean_segments, self.halted_accuracy)
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), outline=(255, 65, 54), width=2)
            label = f"halted: {self.halted_accuracy:.3f} at {self.mean_segments:.2f} segments"
            draw.text((x1, y1 - 22), label, fill=(255, 65, 54), font=font, anchor="ra")
        return save_png(image, path)
