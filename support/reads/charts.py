"""Charts as server-rendered SVG: bars, stacked bars, horizontal bars and lines.

No script and no chart library: the page's CSP allows neither inline script nor inline
style, and none is needed. Colours are presentation attributes (``fill``, ``stroke``),
which the CSP does not govern. Every chart is an image with a name and a description
(``role="img"``, ``<title>``, ``<desc>``), labelled axes, a legend in words, its values
written on or beside the marks where there is room, and each mark carries its own
``<title>`` (the browser shows it on hover). The numbers are also in a table next to each
chart on the page: the chart is for seeing the shape, the table for reading.

Colours are the Okabe–Ito palette, told apart by people with any common colour vision.
Every label goes through ``markupsafe.escape``; the result is a ``Markup`` string.

A value axis is an ``Axis`` chosen for the largest value: counts in whole round steps,
durations in minutes, hours or days as the range needs, shares in fifths; its tick labels
carry ``class="tick"`` and are never repeated. A chart with nothing to show says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from markupsafe import Markup, escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"
WIDTH = 720

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]


def whole(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


@dataclass(frozen=True)
class Axis:
    """The ticks of a value axis, in the data's own units, and how each is written. Every
    tick is a distinct round value and every label a distinct text: an axis reading
    "0, 0, 1, 2, 2" (halves rounded to whole numbers) or "0 h" six times (minutes on an
    axis of hours) says nothing."""

    ticks: tuple[float, ...]
    label: Formatter

    @property
    def top(self) -> float:
        return self.ticks[-1]

    def labels(self) -> list[str]:
        return [self.label(tick) for tick in self.ticks]


AxisFor = Callable[[float], Axis]
"""An axis for the largest value a chart shows."""

MOST_INTERVALS = 6  # more gridlines than this and the labels crowd a 720-pixel chart


def _step(top: float, steps: Sequence[float], most: int = MOST_INTERVALS) -> float:
    """The smallest of ``steps`` that covers ``top`` in at most ``most`` intervals (the
    last step if none does)."""
    return next((step for step in steps if top <= step * most), steps[-1])


def _ticks_to(top: float, step: float) -> tuple[float, ...]:
    """0, step, 2 step, ... up to the first multiple of ``step`` at or above ``top``;
    at least two ticks, so an axis of nothing still has a scale."""
    count = max(1, math.ceil(top / step - 1e-9))
    return tuple(step * n for n in range(count + 1))


def _decades(top: float, most: int = MOST_INTERVALS) -> list[float]:
    """1, 2, 5, 10, 20, 50, ... until a step covers ``top`` in ``most`` intervals."""
    found: list[float] = []
    power = 1
    while not found or found[-1] * most < top:
        found += [m * power for m in (1, 2, 5)]
        power *= 10
    return found


def count_axis(top: float) -> Axis:
    """Counts: whole numbers in steps of 1, 2 or 5 times a power of ten (a top of 2 reads
    0, 1, 2; of 7, 0, 2, 4, 6, 8); nothing to count reads 0, 1."""
    top = max(0.0, top)
    step = _step(top, _decades(top, most=5), most=5)
    return Axis(_ticks_to(top, step), whole)


def share_axis(top: float = 1.0) -> Axis:
    """Shares of a whole: 0 % to 100 % in fifths, whatever the largest share."""
    return Axis(tuple(n / 5 for n in range(6)), percent)


# Each unit of time an axis may be written in: its length in seconds, the largest value
# (in seconds) it is chosen for, and its round steps (in the unit).
_TIME_UNITS: tuple[tuple[str, int, float, tuple[float, ...]], ...] = (
    ("min", 60, 2 * 3600, (1, 2, 5, 10, 15, 30)),
    ("h", 3600, 3 * 86400, (1, 2, 3, 6, 12, 24)),
)
_DAY = 86400


def duration_axis(top: float) -> Axis:
    """Durations given in seconds, written in the unit the range needs: minutes up to two
    hours (0, 15, 30, 45 min), hours up to three days (0, 6, 12, 18, 24 h), days beyond
    (0, 2, 4, 6 d); nothing to show reads 0 h, 1 h."""
    top = max(0.0, top)
    if top == 0:
        return Axis((0.0, 3600.0), _in_unit("h", 3600))
    for unit, seconds, largest, steps in _TIME_UNITS:
        if top <= largest:
            step = _step(top / seconds, steps)
            return Axis(tuple(t * seconds for t in _ticks_to(top / seconds, step)),
                        _in_unit(unit, seconds))
    days = top / _DAY
    step = _step(days, _decades(days))
    return Axis(tuple(t * _DAY for t in _ticks_to(days, step)), _in_unit("d", _DAY))


def _in_unit(unit: str, seconds: int) -> Formatter:
    def label(value: float) -> str:
        return f"{value / seconds:,.0f} {unit}"
    return label


def _text(x: float, y: float, content: str, *, anchor: str = "middle", size: int = 13,
          fill: str = INK, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}"{extra}>{escape(content)}</text>')


def _frame(chart_id: str, title: str, desc: str, height: float, body: list[str]) -> Markup:
    """The outer ``<svg>``: an image named by its title and described by its desc."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" role="img" class="chart" id="{escape(chart_id)}" '
        f'aria-labelledby="{escape(chart_id)}-title" aria-describedby="{escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every piece is escaped


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for item in series:
        parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" '
                     f'fill="{item.color}"/>')
        parts.append(_text(x + 16, y, item.name, anchor="start"))
        x += 28 + 7.5 * len(item.name)
    return parts


def _empty(chart_id: str, title: str, desc: str) -> Markup:
    return _frame(chart_id, title, desc, 60, [_text(WIDTH / 2, 35, "No data yet.", fill=MUTED)])


def column_chart(*, chart_id: str, title: str, desc: str, labels: Sequence[str],
                 series: Sequence[Series], x_label: str, y_label: str,
                 stacked: bool = False, label_every: int = 1,
                 fmt: Formatter = whole, axis: AxisFor = count_axis,
                 nothing: str = "") -> Markup:
    """Vertical bars, one group (or stack) per label: days along the bottom. ``nothing``:
    what the plot says when every value is zero or missing."""
    if not labels or not series:
        return _empty(chart_id, title, desc)
    if stacked:
        top = max(sum(s.values[i] or 0 for s in series) for i in range(len(labels)))
    else:
        top = max(v or 0 for s in series for v in s.values)
    left, upper, plot_w, plot_h, scale, height, body = _vertical(series, axis(top), y_label)
    if nothing and _all_empty(series):
        body.append(_text(left + plot_w / 2, upper + plot_h / 2, nothing, fill=MUTED,
                          extra=' class="nothing"'))
    slot = plot_w / len(labels)
    groups = 1 if stacked else len(series)
    bar_w = max(1.0, slot * 0.8 / groups)
    for i, label in enumerate(labels):
        base: float = upper + plot_h
        for g, item in enumerate(series):
            value = item.values[i] or 0
            h = value * scale
            x = left + slot * i + slot * 0.1 + (0 if stacked else g * bar_w)
            y = base - h
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{item.color}"><title>{escape(f"{label}: {item.name} {fmt(value)}")}'
                f'</title></rect>'
            )
            if stacked:
                base = y
        if i % label_every == 0:
            body.append(_text(left + slot * (i + 0.5), upper + plot_h + 16, label, size=12))
    body.append(_text(left + plot_w / 2, height - 12, x_label))
    return _frame(chart_id, title, desc, height, body)


def _all_empty(series: Sequence[Series]) -> bool:
    return not any(v for s in series for v in s.values)


def _axes(left: float, upper: float, plot_w: float, plot_h: float, axis: Axis,
          scale: float, y_label: str) -> list[str]:
    parts = []
    for tick, label in zip(axis.ticks, axis.labels(), strict=True):
        y = upper + plot_h - tick * scale
        parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(left - 6, y + 4, label, anchor="end", size=12, fill=MUTED,
                           extra=' class="tick"'))
    parts.append(f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{upper + plot_h:.1f}" '
                 f'stroke="{INK}" stroke-width="1"/>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{upper + plot_h:.1f}" '
                 f'y2="{upper + plot_h:.1f}" stroke="{INK}" stroke-width="1"/>')
    middle = upper + plot_h / 2
    parts.append(_text(14, middle, y_label, extra=f' transform="rotate(-90 14 {middle:.1f})"'))
    return parts


class _Vertical(NamedTuple):
    """Where a chart with values up the side draws: its plot area, the pixels per unit,
    and the legend and axes already drawn."""

    left: float
    upper: float
    plot_w: float
    plot_h: float
    scale: float
    height: float
    body: list[str]


def _vertical(series: Sequence[Series], axis: Axis, y_label: str) -> _Vertical:
    left, right, upper, lower, height = 64, 32, 40, 64, 320
    plot_w, plot_h = WIDTH - left - right, height - upper - lower
    scale = plot_h / axis.top
    body = _legend(series, left, 20)
    body += _axes(left, upper, plot_w, plot_h, axis, scale, y_label)
    return _Vertical(left, upper, plot_w, plot_h, scale, height, body)


def line_chart(*, chart_id: str, title: str, desc: str, labels: Sequence[str],
               series: Sequence[Series], x_label: str, y_label: str,
               label_every: int = 1, fmt: Formatter = whole,
               axis: AxisFor = count_axis, nothing: str = "") -> Markup:
    """One line per series over the labels, a point on every value. ``nothing``: what
    the plot says when every value is zero or missing."""
    if not labels or not series:
        return _empty(chart_id, title, desc)
    top = max((v or 0 for s in series for v in s.values), default=0)
    left, upper, plot_w, plot_h, scale, height, body = _vertical(series, axis(top), y_label)
    if nothing and _all_empty(series):
        body.append(_text(left + plot_w / 2, upper + plot_h / 2 - 8, nothing, fill=MUTED,
                          extra=' class="nothing"'))
    step = plot_w / max(1, len(labels) - 1) if len(labels) > 1 else 0
    def x_of(i: int) -> float:
        return left + (step * i if len(labels) > 1 else plot_w / 2)

    for item in series:
        points = [(x_of(i), upper + plot_h - (v or 0) * scale)
                  for i, v in enumerate(item.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{item.color}" '
                        f'stroke-width="2"/>')
        for i, value in enumerate(item.values):
            if value is None:
                continue
            y = upper + plot_h - value * scale
            body.append(
                f'<circle class="point" cx="{x_of(i):.1f}" cy="{y:.1f}" r="3.5" '
                f'fill="{item.color}"><title>{escape(f"{labels[i]}: {item.name} {fmt(value)}")}'
                f'</title></circle>'
            )
    for i, label in enumerate(labels):
        if i % label_every == 0 or i == len(labels) - 1:
            body.append(_text(x_of(i), upper + plot_h + 16, label, size=12))
    body.append(_text(left + plot_w / 2, height - 12, x_label))
    return _frame(chart_id, title, desc, height, body)


def bar_chart(*, chart_id: str, title: str, desc: str, labels: Sequence[str],
              series: Sequence[Series], x_label: str, fmt: Formatter = whole,
              axis: AxisFor = count_axis) -> Markup:
    """Horizontal bars, a row per label (long names such as phone models fit), each value
    written at the end of its bar (``fmt``), a missing one as "no data"."""
    if not labels or not series:
        return _empty(chart_id, title, desc)
    highest = max((v or 0 for s in series for v in s.values), default=0)
    scale_axis = axis(highest)
    left, right = min(300, 24 + 7 * max(len(label) for label in labels)), 72
    upper = 40 if len(series) > 1 else 16
    bar_h = 16
    row_h = bar_h * len(series) + 10
    plot_w = WIDTH - left - right
    plot_h = row_h * len(labels)
    height = upper + plot_h + 52
    scale = plot_w / scale_axis.top
    body = _legend(series, left, 20) if len(series) > 1 else []
    for tick, tick_label in zip(scale_axis.ticks, scale_axis.labels(), strict=True):
        x = left + tick * scale
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{upper}" y2="{upper + plot_h}" '
                    f'stroke="{GRID}" stroke-width="1"/>')
        body.append(_text(x, upper + plot_h + 16, tick_label, size=12, fill=MUTED,
                          extra=' class="tick"'))
    body.append(f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{upper + plot_h}" '
                f'stroke="{INK}" stroke-width="1"/>')
    for i, label in enumerate(labels):
        y0 = upper + row_h * i + 5
        body.append(_text(left - 6, y0 + row_h / 2, _clip(label, (left - 12) // 7),
                          anchor="end"))
        if all(item.values[i] is None for item in series):  # one "no data" a row, not a bar
            body.append(_text(left + 4, y0 + row_h / 2, "no data", anchor="start", size=12,
                              fill=MUTED))
            continue
        for g, item in enumerate(series):
            value = item.values[i]
            y = y0 + g * bar_h
            if value is None:
                body.append(_text(left + 4, y + 12, "no data", anchor="start", size=12,
                                  fill=MUTED))
                continue
            w = value * scale
            body.append(
                f'<rect class="bar" x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{item.color}"><title>{escape(f"{label}: {item.name} {fmt(value)}")}'
                f'</title></rect>'
            )
            body.append(_text(left + w + 4, y + 12, fmt(value), anchor="start", size=12))
    body.append(_text(left + plot_w / 2, height - 12, x_label))
    return _frame(chart_id, title, desc, height, body)


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: max(1, limit - 1)] + "…"
