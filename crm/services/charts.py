"""Geometry for the small server-side SVG charts (no JavaScript library, nothing from a CDN).

The service computes coordinates; templates only draw them.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ventas.formatting import format_clp, format_number


# Coordinates are strings: templates would otherwise localise floats to "12,5" (es-CL), which is not SVG.
@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str  # axis label ("" when skipped to avoid crowding)
    title: str  # full text for the tooltip and screen readers
    label_x: str


@dataclass(frozen=True)
class GridLine:
    y: str
    label: str
    label_x: str


@dataclass(frozen=True)
class BarChart:
    width: str
    height: str
    plot_left: str
    plot_right: str
    label_y: str
    bars: list[Bar]
    gridlines: list[GridLine]
    is_empty: bool
    # The same data drawn for a phone (fewer axis labels, text at a readable size), or None for short charts.
    narrow: "BarChart | None" = None


NARROW_WIDTH = 360  # SVG units of the phone copy: drawn about 310 px wide on a 375 px screen, text stays ~10 px
NARROW_MAX_LABELS = 4


def svg_number(value: float) -> str:
    """A coordinate as SVG wants it: "12.5", "40"; never localised."""
    return f"{round(float(value), 1):g}"


def compact_clp(value) -> str:
    """Short money for axis labels: 1_250_000 -> "$1,3 M", 350_000 -> "$350 mil"."""
    value = float(value or 0)
    if abs(value) >= 1_000_000:
        return "$" + f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " M"
    if abs(value) >= 1_000:
        return f"${format_number(round(value / 1_000))} mil"
    return format_clp(value)


def _nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k) that is at least `value`."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def bar_chart(
    points: Sequence[tuple[str, Decimal | int | float, str]],
    *,
    width: int = 720,
    height: int = 220,
    label_every: int = 1,
    axis_format: Callable = compact_clp,
    gridline_count: int = 4,
    narrow_width: int | None = NARROW_WIDTH,
) -> BarChart:
    """Vertical bars for `(axis_label, value, title)` points, scaled to a rounded maximum.

    A wide time series (it already skips labels: `label_every` > 1) of more than NARROW_MAX_LABELS points also gets a
    `narrow` copy `narrow_width` units wide with at most NARROW_MAX_LABELS axis labels: scaled down to a 375 px
    phone, the wide one's labels would be unreadable. Charts that label every bar (categories) get none.
    """
    plot_left, plot_right, top, bottom = 64, width - 20, 10, height - 26  # right: room for the last label
    plot_height = bottom - top
    maximum = _nice_ceiling(max((float(value) for _, value, _ in points), default=0))
    slot = (plot_right - plot_left) / max(len(points), 1)
    bar_width = max(slot * 0.7, 1)
    bars = []
    for index, (label, value, title) in enumerate(points):
        bar_height = plot_height * float(value) / maximum if value else 0
        x = plot_left + index * slot + (slot - bar_width) / 2
        bars.append(
            Bar(
                x=svg_number(x),
                y=svg_number(bottom - bar_height),
                width=svg_number(bar_width),
                height=svg_number(bar_height),
                label=label if (len(points) - 1 - index) % label_every == 0 else "",  # always label the latest
                title=title,
                label_x=svg_number(x + bar_width / 2),
            )
        )
    gridlines = [
        GridLine(
            y=svg_number(bottom - plot_height * step / gridline_count),
            label=axis_format(maximum * step / gridline_count),
            label_x=svg_number(plot_left - 6),
        )
        for step in range(gridline_count + 1)
    ]
    narrow = None
    if narrow_width and width > narrow_width and label_every > 1 and len(points) > NARROW_MAX_LABELS:
        narrow = bar_chart(
            points,
            width=narrow_width,
            height=height,
            label_every=max(label_every, math.ceil(len(points) / NARROW_MAX_LABELS)),
            axis_format=axis_format,
            gridline_count=gridline_count,
            narrow_width=None,
        )
    return BarChart(
        narrow=narrow,
        width=svg_number(width),
        height=svg_number(height),
        plot_left=svg_number(plot_left),
        plot_right=svg_number(plot_right),
        label_y=svg_number(height - 8),
        bars=bars,
        gridlines=gridlines,
        is_empty=not any(value for _, value, _ in points),
    )
