"""Learning curves in the terminal: lines drawn in braille dots (2x4 per cell), with
labelled axes. Pure: series in, rich Text lines out, so it is tested without a terminal.

Drawn here rather than with plotext (textual-plotext's engine): plotext costs ~1.8 us per
point (185 ms for 100 trials of 300 points at 78x20, 550 ms for 300), keeps its figure in
module-global state (not for a worker thread), and gives no say in which line owns a cell
when lines cross. Here each series is first thinned to the chart's dot columns, then drawn
segment by segment; a cell takes the style of the most important line through it (the
selected trial over the best over the rest), so the two that matter stay visible in a
sweep of a thousand. Without colour (NO_COLOR) the selected and best lines are told apart
by their dots: the selected drawn last and thick, the best thick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from ktui.cluster.format import fmt_number

_BRAILLE = 0x2800
# Dot bits of a braille cell, by (column, row) within it.
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_Y_LABEL_WIDTH = 8


@dataclass(frozen=True)
class Curve:
    points: Sequence[tuple[float, float]]  # (step, value), in step order
    style: str  # rich style of its dots
    rank: int = 0  # who owns a shared cell: the highest rank
    thick: bool = False  # also the dots above and below (told apart without colour)


def _nice_ticks(lo: float, hi: float, n: int) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _thin(points: Sequence[tuple[float, float]], x0: float, xspan: float, cols: int) -> list[tuple[int, float]]:
    """One point per dot column (the last of each column), in column order."""
    out: dict[int, float] = {}
    for x, y in points:
        if math.isfinite(y):
            out[min(cols - 1, int((x - x0) / xspan * (cols - 1) + 0.5))] = y
    return sorted(out.items())


def render_chart(curves: Sequence[Curve], width: int, height: int, *, x_label: str = "step",
                 color: bool = True) -> list[Text]:
    """`height` lines of `width` cells: the plot, its y ticks on the left, x ticks and the
    axis label below."""
    plot_w = max(4, width - _Y_LABEL_WIDTH - 1)
    plot_h = max(2, height - 2)
    pts = [p for c in curves for p in c.points if math.isfinite(p[1])]
    if not pts:
        empty = [Text(" " * width) for _ in range(height)]
        empty[height // 2] = Text("no values read yet".center(width), style="dim")
        return empty
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.04
    y0, y1 = y0 - pad, y1 + pad
    xspan = (x1 - x0) or 1.0
    cols, rows = plot_w * 2, plot_h * 4
    cells = [[0] * plot_w for _ in range(plot_h)]
    owner: list[list[Curve | None]] = [[None] * plot_w for _ in range(plot_h)]

    def dot(cx: int, ry: int, c: Curve) -> None:
        if 0 <= cx < cols and 0 <= ry < rows:
            row, col = ry // 4, cx // 2
            cells[row][col] |= _DOT[cx % 2][ry % 4]
            o = owner[row][col]
            if o is None or c.rank >= o.rank:
                owner[row][col] = c

    def ydot(v: float) -> int:
        return int(round((y1 - v) / (y1 - y0) * (rows - 1)))

    for c in sorted(curves, key=lambda c: c.rank):
        thin = _thin(c.points, x0, xspan, cols)
        prev: tuple[int, int] | None = None
        for cx, v in thin:
            ry = ydot(v)
            if prev is None:
                dot(cx, ry, c)
            else:
                px, py = prev
                steps = max(abs(cx - px), abs(ry - py), 1)
                for i in range(1, steps + 1):
                    dot(px + (cx - px) * i // steps, py + (ry - py) * i // steps, c)
            if c.thick:
                dot(cx, ry - 1, c)
                dot(cx, ry + 1, c)
            prev = (cx, ry)

    ticks = {ydot(v) // 4: v for v in _nice_ticks(y0, y1, max(1, plot_h // 3))}
    lines: list[Text] = []
    for r in range(plot_h):
        t = Text(no_wrap=True)
        label = fmt_number(ticks[r]) if r in ticks else ""
        t.append(f"{label[:_Y_LABEL_WIDTH - 1]:>{_Y_LABEL_WIDTH - 1}} ", style="dim")
        t.append("┤" if r in ticks else "│", style="dim")
        for col in range(plot_w):
            bits = cells[r][col]
            if not bits:
                t.append(" ")
                continue
            o = owner[r][col]
            t.append(chr(_BRAILLE + bits), style=(o.style if color and o is not None else ""))
        lines.append(t)
    axis = Text(" " * _Y_LABEL_WIDTH + "└" + "─" * plot_w, style="dim", no_wrap=True)
    # The x axis's name in the margin under the y labels; its ticks where they fall (the
    # last pulled left to fit), none overlapping.
    labels = list(f"{x_label[:_Y_LABEL_WIDTH - 1]:>{_Y_LABEL_WIDTH - 1}}  ") + [" "] * plot_w
    for v in _nice_ticks(x0, x1, max(1, plot_w // 12)):
        s = fmt_number(v)
        pos = min(_Y_LABEL_WIDTH + 1 + int((v - x0) / xspan * (plot_w - 1)), len(labels) - len(s))
        if all(ch == " " for ch in labels[max(_Y_LABEL_WIDTH + 1, pos - 1):pos + len(s) + 1]):
            labels[pos:pos + len(s)] = s
    lines.append(axis)
    lines.append(Text("".join(labels), style="dim", no_wrap=True))
    return [line[:width] if len(line) > width else line for line in lines]
