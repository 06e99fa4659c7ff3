"""The dashboard's charts, as SVG drawn on the server by pygal.

``js=[]`` drops pygal's default ``<script>`` from its CDN; what stays is an
inline script that only stores the chart's options (JSON), which does nothing
without that CDN script, and the SVG is inserted through ``innerHTML``, which
runs no script anyway (templates/admin/dashboard.html). pygal escapes every
label it writes, and the labels are ours: hours, category names and proxy
numbers (the business's numbers, never a party's).
"""

from datetime import datetime

import pygal
from django.utils import timezone
from pygal.style import Style

from orders.pool import NumberLoad

from .dashboard import CATEGORIES, Window

# One colour per category, in CATEGORIES' order: talked green, missed red,
# PIN prompted amber, PIN refused purple, unknown grey, blocked black, limit
# reached orange, in progress blue, other brown.
COLOURS = ("#2e7d32", "#c62828", "#f9a825", "#6a1b9a", "#757575", "#212121", "#ef6c00", "#1565c0", "#6d4c41")
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#333",
    foreground_subtle="#ddd",
    colors=COLOURS,
    font_family="sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=12,
    title_font_size=16,
)
# The dashboard's column is 880 px wide at 1280 px (templates/admin/dashboard_style.html); the SVG scales to it.
WIDTH, HEIGHT = 900, 330
BUSIEST_NUMBERS = 30


def _options(**extra: object) -> dict:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "style": STYLE,
        "width": WIDTH,
        "height": HEIGHT,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": len(CATEGORIES),
        "truncate_legend": -1,
        "truncate_label": -1,
        "show_minor_x_labels": False,
        "print_values": False,
        "margin": 8,
        **extra,
    }


def _hour_label(hour: datetime, *, with_day: bool) -> str:
    local = timezone.localtime(hour)
    return local.strftime("%a %H:%M") if with_day else local.strftime("%H:%M")


def _series(window: Window) -> list[tuple[str, list[int | None]]]:
    # None, not 0, for an empty hour: pygal draws nothing for it.
    return [(label, [count or None for count in window.calls[category]]) for category, label in CATEGORIES.items()]


def calls_chart(window: Window) -> str:
    """Calls per hour stacked by category: bars for 24 hours; an area for 7 days, where 168 bars would be noise."""
    week = len(window.hours) > 48
    chart_type = pygal.StackedLine if week else pygal.StackedBar
    extra = {"fill": True, "show_dots": False, "x_labels_major_every": 24} if week else {"x_labels_major_every": 3}
    chart = chart_type(**_options(title=f"Calls per hour, last {window.name}", **extra))
    chart.x_labels = [_hour_label(hour, with_day=week) for hour in window.hours]
    if week:
        chart.x_labels_major = chart.x_labels[::24]
    for label, counts in _series(window):
        chart.add(label, counts)
    return chart.render(is_unicode=True)


def lines_chart(lines: list[NumberLoad]) -> str:
    """Live lines on each proxy number, the busiest first (at most BUSIEST_NUMBERS bars)."""
    shown = lines[:BUSIEST_NUMBERS]
    title = "Live lines per proxy number"
    if len(lines) > len(shown):
        title += f" (the {len(shown)} busiest of {len(lines)})"
    chart = pygal.Bar(
        **_options(title=title, show_legend=False, x_label_rotation=60, show_minor_x_labels=True, height=360)
    )
    chart.x_labels = [load.number for load in shown]
    busiest = max((load.live_lines for load in shown), default=0)
    if busiest <= 10:  # whole lines, not pygal's 0.2 steps
        chart.y_labels = list(range(busiest + 1))
    chart.add("live lines", [load.live_lines for load in shown])
    return chart.render(is_unicode=True)
