"""Charts as inline SVG, drawn on the server: readable without JavaScript, printable,
and within the console's content security policy (no script, no style attribute)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 44


@dataclass
class Series:
    name: str
    values: list[float]
    colour: str


def nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f") if value >= 1 or value == 0 else f"{value:.1f}"


def _frame(title: str, top: float, unit: str, labels: list[str], body: list[str],
           legend: list[Series]) -> SafeString:  # fmt: skip
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24 * bool(legend)}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#444">{escape(_number(value))}{escape(unit)}</text>'
        )
    parts.extend(body)
    # At most a dozen labels under the axis, evenly picked: more would overlap.
    every = max(1, -(-len(labels) // 12))
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + slot * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#444">{escape(label)}</text>'
        )
    x = LEFT
    for series in legend:
        parts.append(
            f'<rect x="{x}" y="{HEIGHT + 4}" width="12" height="12" fill="{series.colour}"/>'
            f'<text x="{x + 16}" y="{HEIGHT + 14}" font-size="12" fill="#222">'
            f"{escape(series.name)}</text>"
        )
        x += 24 + 7 * len(series.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def bars(title: str, labels: list[str], series: list[Series], *, unit: str = "",
         top: float | None = None) -> SafeString:  # fmt: skip
    """Stacked bars, one per label, the series stacked in their order."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = top or nice_max(max(totals, default=0))
    slot = plot_w / max(1, len(labels))
    width = max(1.0, slot * 0.7)
    body = []
    for i, label in enumerate(labels):
        y = TOP + plot_h
        x = LEFT + slot * i + (slot - width) / 2
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * min(value, top) / top
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(label)} – {escape(s.name)} : '
                f"{escape(_number(value))}{escape(unit)}</title></rect>"
            )
    return _frame(title, top, unit, labels, body, series if len(series) > 1 else [])


def lines(title: str, labels: list[str], series: list[Series], *, unit: str = "",
          top: float | None = None) -> SafeString:  # fmt: skip
    """One line per series; a missing value (None) breaks the line."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    top = top or nice_max(max(values, default=0))
    slot = plot_w / max(1, len(labels))
    body = []
    for s in series:
        runs, run = [], []
        for i, value in enumerate(s.values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            x = LEFT + slot * (i + 0.5)
            y = TOP + plot_h - plot_h * min(value, top) / top
            run.append((x, y, value, labels[i]))
        if run:
            runs.append(run)
        for run in runs:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v, _l in run)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"/>'
            )
            body.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}"><title>'
                f"{escape(label)} – {escape(s.name)} : {escape(_number(v))}{escape(unit)}"
                "</title></circle>"
                for x, y, v, label in run
            )
    return _frame(title, top, unit, labels, body, series)
