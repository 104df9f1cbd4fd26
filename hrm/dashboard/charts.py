"""Charts as inline SVG: a page that needs no script, no plotting library and no network to show.

Each chart is one `<svg class="chart">` with a `<title>`, and one element per series or point carrying
its name and values in `data-*` attributes, so a test (or a script) can read the numbers back.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 46  # margins around the plot area
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")

Points = list[tuple[float, float]]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


class _Frame:
    """Maps data coordinates into the plot area; draws the axes, ticks and grid."""

    def __init__(self, xs: list[float], ys: list[float], x_ticks: list[float] | None = None):
        self.x_ticks = x_ticks if x_ticks is not None else nice_ticks(min(xs), max(xs))
        self.y_ticks = nice_ticks(min(ys), max(ys))
        self.x0, self.x1 = self.x_ticks[0], self.x_ticks[-1]
        self.y0, self.y1 = self.y_ticks[0], self.y_ticks[-1]

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return LEFT + (value - self.x0) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return HEIGHT - BOTTOM - (value - self.y0) / span * (HEIGHT - TOP - BOTTOM)

    def axes(self, x_label: str, x_names: dict[float, str] | None = None) -> list[str]:
        parts = []
        for tick in self.y_ticks:
            y = self.y(tick)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
        for tick in self.x_ticks:
            x = self.x(tick)
            name = _label(tick) if x_names is None else x_names.get(tick, "")
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(name)}</text>')
        parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}"'
                     ' fill="none" stroke="#999"/>')
        parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
                     f'{escape(x_label)}</text>')
        return parts


def _svg(title: str, body: list[str]) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
            f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
            f'<title>{escape(title)}</title>'
            f'<text x="{LEFT}" y="20" font-size="13" font-weight="bold">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def _values(points: Points) -> str:
    return " ".join(f"{x:g},{y:.6g}" for x, y in points)


def line_chart(title: str, series: dict[str, Points], x_label: str = "step") -> str:
    """One line per series (a lone point is drawn as a dot), with a legend."""
    series = {name: points for name, points in series.items() if points}
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    if not xs:
        return _svg(title, [f'<text x="{LEFT}" y="{HEIGHT / 2}">no values</text>'])
    frame = _Frame(xs, ys)
    body = frame.axes(x_label)
    for index, (name, points) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in points)
        data = f'class="series" data-name="{escape(name)}" data-points="{_values(points)}"'
        if len(points) == 1:
            (cx, cy), = [(frame.x(x), frame.y(y)) for x, y in points]
            body.append(f'<circle {data} cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}"/>')
        else:
            body.append(f'<polyline {data} points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        legend_y = TOP + 14 + 14 * index
        body.append(f'<text x="{WIDTH - RIGHT - 8}" y="{legend_y}" text-anchor="end" fill="{colour}">'
                    f'{escape(name)}</text>')
    return _svg(title, body)


def scatter_chart(title: str, points: list[tuple[str, float]], x_label: str) -> str:
    """A metric against one hyperparameter: numeric values on a numeric axis, others as categories."""
    try:
        numeric = [(float(x), y) for x, y in points]
        names = None
        ticks = None
    except ValueError:
        categories = sorted({x for x, _ in points})
        numeric = [(float(categories.index(x)), y) for x, y in points]
        names = {float(i): name for i, name in enumerate(categories)}
        ticks = [float(i) for i in range(len(categories))]
    if ticks is not None and len(ticks) == 1:
        ticks = [-1.0, 0.0, 1.0]
    frame = _Frame([x for x, _ in numeric], [y for _, y in numeric], ticks)
    body = frame.axes(x_label, names)
    for (raw, y), (x, _) in zip(points, numeric):
        body.append(f'<circle class="point" data-x="{escape(raw)}" data-y="{y:.6g}" cx="{frame.x(x):.1f}"'
                    f' cy="{frame.y(y):.1f}" r="4" fill="{PALETTE[0]}"/>')
    return _svg(title, body)
