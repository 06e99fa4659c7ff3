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

# One colour per result, in CATEGORIES' order, no two of them greys: talked green, no answer red, busy
# orange, failed brown, ended before connecting amber, PIN refused purple, unknown caller teal, blocked
# black, limit reached pink, in progress blue.
COLOURS = (
    "#2e7d32",
    "#c62828",
    "#ef6c00",
    "#6d4c41",
    "#f9a825",
    "#6a1b9a",
    "#00838f",
    "#212121",
    "#ad1457",
    "#1565c0",
)
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
WIDTH, HEIGHT = 900, 350
BUSIEST_NUMBERS = 30
# Two rows of legend: ten labels in one row of 900 px ran into each other ("unknown calle" over "blocked").
LEGEND_COLUMNS = 5
# The week is drawn as seven 24-hour bars: as 168 hourly points, one busy hour was a one-pixel spike.
WEEK_BLOCK_HOURS = 24


def _options(**extra: object) -> dict:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "style": STYLE,
        "width": WIDTH,
        "height": HEIGHT,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": LEGEND_COLUMNS,
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


def _whole_counts(chart: pygal.graph.graph.Graph, highest: int) -> None:
    """Whole numbers on the count axis: pygal would label an empty or quiet chart 0.1, 0.2, …"""
    if highest == 0:
        chart.show_y_labels = False  # "No data" alone: no axis of counts that are not there
    elif highest <= 10:
        chart.y_labels = list(range(highest + 1))


def _blocks(counts: list[int], size: int) -> list[int]:
    return [sum(counts[start : start + size]) for start in range(0, len(counts), size)]


def calls_chart(window: Window) -> str:
    """Calls stacked by result: a bar per hour for 24 hours, a bar per 24 hours for 7 days."""
    week = len(window.hours) > 48
    step = WEEK_BLOCK_HOURS if week else 1
    starts = window.hours[::step]
    title = f"Calls per {'24 hours' if week else 'hour'}, last {window.name}"
    chart = pygal.StackedBar(
        **_options(title=title, x_labels_major_every=1 if week else 3, spacing=4, no_data_text="No calls")
    )
    chart.x_labels = [
        f"from {_hour_label(start, with_day=True)}" if week else _hour_label(start, with_day=False) for start in starts
    ]
    series = {category: _blocks(window.calls[category], step) for category in CATEGORIES}
    for category, label in CATEGORIES.items():
        # None, not 0, for an empty bar: pygal draws nothing for it.
        chart.add(label, [count or None for count in series[category]])
    _whole_counts(chart, max((sum(column) for column in zip(*series.values(), strict=True)), default=0))
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
