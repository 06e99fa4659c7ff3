"""The dashboard page.

The admin home loads the dashboard after the page (templates/admin/index.html
and voice/static/voice/dashboard.js), so the home page costs what it did and
the dashboard's queries run only for the staff who may see it; opened
directly, ``/admin/dashboard/`` is a page of its own.
"""

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from orders.models import Line
from orders.pool import PoolAdvice

from .charts import calls_chart, lines_chart
from .dashboard import dashboard


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def pool_sentence(advice: PoolAdvice) -> str:
    """The advice for one country in a sentence: today's N, 2N − 1, the pool size, and what to add."""
    n, needed, size = advice.busiest_party_orders, advice.numbers_needed, advice.pool_size
    if n == 0:
        return f"No live orders today; you have {size} number{'s' if size != 1 else ''}."
    enough = f"add {advice.numbers_to_add}" if advice.numbers_to_add else "enough"
    return (
        f"N = {n} (the most live orders one customer or agent holds), so 2N − 1 = {needed} "
        f"number{'s are' if needed != 1 else ' is'} needed; you have {size}: {enough}."
    )


# The figures are call records, the same permission as the call log. Staff
# without it get a 403 (the home page does not even ask for it).
@permission_required("voice.view_callrecord", raise_exception=True)
def dashboard_page(request: HttpRequest) -> HttpResponse:
    figures = dashboard()
    windows = [figures.day, figures.week]
    context = {
        "title": "Dashboard",
        "figures": figures,
        "charts": [calls_chart(window) for window in windows],
        "lines_chart": lines_chart(figures.lines) if figures.lines else None,
        "rows": [
            ("Calls", [f"{window.total():,}" for window in windows]),
            ("Answer rate", [_percent(window.answer_rate) for window in windows]),
            ("Missed-call rate", [_percent(window.missed_rate) for window in windows]),
            ("PIN-prompt rate", [_percent(window.pin_prompt_rate) for window in windows]),
            ("Texts relayed", [f"{window.texts_relayed:,}" for window in windows]),
        ],
        "kind_rows": [
            (label, [f"{window.by_kind[kind]:,}" for window in windows]) for kind, label in Line.Kind.choices
        ],
        "pool": [(advice, pool_sentence(advice)) for advice in figures.pool],
    }
    if request.GET.get("part") == "panel":
        return TemplateResponse(request, "admin/dashboard_panel.html", {**context, "embedded": True})
    return TemplateResponse(request, "admin/dashboard.html", {**admin.site.each_context(request), **context})
