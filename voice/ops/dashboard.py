"""The operations dashboard's figures: calls per hour by result, the rates, texts, lines and pool advice.

Every figure comes from a GROUP BY in the database over a bounded window
(indexed on ``started_at`` and ``received_at``), so the cost follows the calls
in the last week, not the size of the call log; bench/dashboard.py times it.

The windows are whole clock hours in UTC, the current one included: "24
hours" is the current hour and the 23 before it, "7 days" the current hour
and the 167 before it. The 24 hours are the last 24 of the week's buckets,
so one query serves both windows.

What each rate means (``Window``):

- answer rate: calls the other party talked on ÷ calls that rang the other
  party and are over (talked + missed);
- missed-call rate: missed ÷ the same calls (so the two add up to 100 %);
- PIN-prompt rate: calls asked for a PIN, whatever happened next ÷ all calls.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.db.models.functions import Trunc
from django.utils import timezone

from orders.pool import NumberLoad, PoolAdvice, live_lines_per_number, pool_advice

from ..models import CallRecord, MessageRecord

Outcome, Result = CallRecord.Outcome, CallRecord.Result

TALKED = "talked"
MISSED = "missed"
PIN_PROMPTED = "pin_prompted"
PIN_REFUSED = "pin_refused"
UNKNOWN_CALLER = "unknown_caller"
BLOCKED = "blocked"
LIMIT_REACHED = "limit_reached"
IN_PROGRESS = "in_progress"
OTHER = "other"

# The chart's stacks, bottom up, with the words the page shows.
CATEGORIES = {
    TALKED: "talked",
    MISSED: "missed",
    PIN_PROMPTED: "PIN prompted",
    PIN_REFUSED: "PIN refused",
    UNKNOWN_CALLER: "unknown caller",
    BLOCKED: "blocked",
    LIMIT_REACHED: "limit reached",
    IN_PROGRESS: "in progress",
    OTHER: "other",
}

# What a call counts as, by its stored outcome. A new outcome slots in here;
# one left out counts as "other". None: the other party's phone was dialled,
# and Plivo's dial status (the derived ``result``) says what happened next.
# "PIN prompted" is a call that never got past the prompt: a right PIN turns
# the outcome into "connected" (``asked_pin`` still says it was asked).
OUTCOME_CATEGORIES: dict[str, str | None] = {
    Outcome.CONNECTED: None,
    Outcome.PIN_PROMPTED: PIN_PROMPTED,
    Outcome.REJECTED: PIN_REFUSED,
    Outcome.UNKNOWN: UNKNOWN_CALLER,
    Outcome.BLOCKED: BLOCKED,
    Outcome.LIMITED: LIMIT_REACHED,
    # A click-to-call whose first party never answered: missed, nobody else was rung.
    Outcome.NOT_ANSWERED: MISSED,
}
# A dialled call by its result; every other result of a dialled call is missed.
DIALLED_CATEGORIES = {Result.TALKED: TALKED, Result.IN_PROGRESS: IN_PROGRESS}


def category_of(record: CallRecord) -> str:
    """The dashboard's category of one call (``category_expression`` is the same rule in SQL)."""
    if record.outcome not in OUTCOME_CATEGORIES:
        return OTHER
    category = OUTCOME_CATEGORIES[record.outcome]
    if category is None:
        return DIALLED_CATEGORIES.get(record.result, MISSED)
    return category


def category_expression() -> Case:
    """``category_of`` in SQL, on a queryset annotated with ``call_result=CallRecord.result_expression()``."""
    whens = []
    for outcome, category in OUTCOME_CATEGORIES.items():
        if category is not None:
            whens.append(When(outcome=outcome, then=Value(category)))
            continue
        whens += [
            When(outcome=outcome, call_result=result, then=Value(dialled))
            for result, dialled in DIALLED_CATEGORIES.items()
        ]
        whens.append(When(outcome=outcome, then=Value(MISSED)))
    return Case(*whens, default=Value(OTHER), output_field=CharField())


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Window:
    """One window's calls per hour by category, and its totals and rates."""

    name: str  # "24 hours", "7 days"
    hours: list[datetime]  # the start of each hour, oldest first, UTC
    calls: dict[str, list[int]]  # category → calls in each hour (every category of CATEGORIES)
    asked_pin: int  # calls asked for a PIN
    texts_relayed: int

    def total(self, category: str | None = None) -> int:
        if category is None:
            return sum(sum(counts) for counts in self.calls.values())
        return sum(self.calls[category])

    @property
    def rang(self) -> int:
        """Calls that rang the other party and are over: the answer and missed-call rates' denominator."""
        return self.total(TALKED) + self.total(MISSED)

    @property
    def answer_rate(self) -> float | None:
        return _rate(self.total(TALKED), self.rang)

    @property
    def missed_rate(self) -> float | None:
        return _rate(self.total(MISSED), self.rang)

    @property
    def pin_prompt_rate(self) -> float | None:
        return _rate(self.asked_pin, self.total())


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    day: Window
    week: Window
    pool: list[PoolAdvice] = field(default_factory=list)
    lines: list[NumberLoad] = field(default_factory=list)


DAY_HOURS = 24
WEEK_HOURS = 7 * 24


def hour_buckets(now: datetime, hours: int) -> list[datetime]:
    """The starts of the ``hours`` whole UTC hours up to and including ``now``'s, oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=back) for back in range(hours - 1, -1, -1)]


def calls_per_hour_query(start: datetime, end: datetime) -> QuerySet:
    """(hour, category, asked for a PIN, calls) for the calls started in [start, end): one GROUP BY."""
    return (
        CallRecord.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(call_result=CallRecord.result_expression())
        .annotate(category=category_expression(), hour=Trunc("started_at", "hour", tzinfo=UTC))
        .values_list("hour", "category", "asked_pin")
        .annotate(calls=Count("*"))
        .order_by()
    )


def calls_per_hour(start: datetime, end: datetime) -> list[tuple[datetime, str, bool, int]]:
    return list(calls_per_hour_query(start, end))


def texts_relayed(start: datetime, day_start: datetime, end: datetime) -> tuple[int, int]:
    """Texts relayed in [start, end) and in [day_start, end): one query."""
    counts = MessageRecord.objects.filter(
        received_at__gte=start, received_at__lt=end, outcome=MessageRecord.Outcome.RELAYED
    ).aggregate(week=Count("pk"), day=Count("pk", filter=Q(received_at__gte=day_start)))
    return counts["week"], counts["day"]


def dashboard(now: datetime | None = None) -> Dashboard:
    """Everything the admin home's dashboard shows, in five queries."""
    now = now or timezone.now()
    week_hours = hour_buckets(now, WEEK_HOURS)
    day_hours = week_hours[-DAY_HOURS:]
    end = week_hours[-1] + timedelta(hours=1)
    index = {hour: position for position, hour in enumerate(week_hours)}
    calls = {category: [0] * WEEK_HOURS for category in CATEGORIES}
    asked_pin = [0] * WEEK_HOURS
    for hour, category, asked, count in calls_per_hour(week_hours[0], end):
        position = index[hour.astimezone(UTC)]
        calls[category][position] += count
        if asked:
            asked_pin[position] += count
    week_texts, day_texts = texts_relayed(week_hours[0], day_hours[0], end)
    return Dashboard(
        now=now,
        day=Window(
            "24 hours",
            day_hours,
            {category: counts[-DAY_HOURS:] for category, counts in calls.items()},
            sum(asked_pin[-DAY_HOURS:]),
            day_texts,
        ),
        week=Window("7 days", week_hours, calls, sum(asked_pin), week_texts),
        pool=pool_advice(now),
        lines=live_lines_per_number(now),
    )
