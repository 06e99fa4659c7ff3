"""The operations dashboard's figures: calls per hour by result, the rates, texts, lines and pool advice.

Every figure comes from a GROUP BY in the database over a bounded window
(indexed on ``started_at`` and ``received_at``), so the cost follows the calls
in the last week, not the size of the call log; bench/dashboard.py times it.

The windows are whole clock hours in UTC, the current one included: "24
hours" is the current hour and the 23 before it, "7 days" the current hour
and the 167 before it. The 24 hours are the last 24 of the week's buckets,
so one query serves both windows.

What each figure means (``Window``). Calls are counted by their result, the
one vocabulary of the call records, the API and the ``numbermasking_calls_total``
metric (``CallRecord.Result``; docs/operating.md, "Call results"):

- answer rate: calls the other party talked on ÷ calls whose other party's
  phone was dialled (Plivo reported a dial status: talked, no answer, busy,
  failed, or ended before connecting while it rang);
- missed-call rate: the rest of those ÷ the same calls (so the two add up to 100 %);
- PIN-prompt rate: calls asked for a PIN, whatever happened next ÷ all calls;
- calls by line kind: calls that reached a line (customer–agent, store–agent,
  customer–store), by the kind of that line; calls that reached none (an
  unknown caller, a PIN refused) are in no kind. The same GROUP BY, with the
  line's kind through a join on the line's primary key.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When
from django.db.models.functions import Trunc
from django.utils import timezone

from orders.models import Line
from orders.pool import NumberLoad, PoolAdvice, live_lines_per_number, pool_advice

from ..models import CallRecord, MessageRecord

Result = CallRecord.Result

# The chart's stacks, bottom up: every result, with the label the call records show.
RESULTS_SHOWN = [
    Result.TALKED,
    Result.NO_ANSWER,
    Result.BUSY,
    Result.FAILED,
    Result.ENDED_EARLY,
    Result.PIN_REFUSED,
    Result.UNKNOWN_CALLER,
    Result.BLOCKED,
    Result.LIMIT_REACHED,
    Result.IN_PROGRESS,
]
CATEGORIES = {result.value: result.label for result in RESULTS_SHOWN}


def dialled_expression() -> Case:
    """Whether the other party's phone was dialled: Plivo reported a dial status (the rates' denominator)."""
    return Case(When(~Q(dial_status=""), then=Value(True)), default=Value(False), output_field=BooleanField())


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Window:
    """One window's calls per hour by category, and its totals and rates."""

    name: str  # "24 hours", "7 days"
    hours: list[datetime]  # the start of each hour, oldest first, UTC
    calls: dict[str, list[int]]  # result → calls in each hour (every result of CATEGORIES)
    asked_pin: int  # calls asked for a PIN
    dialled: int  # calls whose other party's phone was dialled (Plivo reported a dial status)
    texts_relayed: int
    # Line.Kind value → calls over a line of that kind (every kind, in Line.Kind's order)
    by_kind: dict[str, int] = field(default_factory=dict)

    def total(self, category: str | None = None) -> int:
        if category is None:
            return sum(sum(counts) for counts in self.calls.values())
        return sum(self.calls[category])

    @property
    def answer_rate(self) -> float | None:
        return _rate(self.total(Result.TALKED), self.dialled)

    @property
    def missed_rate(self) -> float | None:
        return _rate(self.dialled - self.total(Result.TALKED), self.dialled)

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
    """(hour, result, asked for a PIN, dialled, line kind, calls) for the calls started in [start, end): one GROUP BY.

    The line kind is None for a call that reached no line.
    """
    return (
        CallRecord.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(
            call_result=CallRecord.result_expression(),
            dialled=dialled_expression(),
            hour=Trunc("started_at", "hour", tzinfo=UTC),
        )
        .values_list("hour", "call_result", "asked_pin", "dialled", "line__kind")
        .annotate(calls=Count("*"))
        .order_by()
    )


def calls_per_hour(start: datetime, end: datetime) -> list[tuple[datetime, str, bool, bool, str | None, int]]:
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
    calls = {result: [0] * WEEK_HOURS for result in CATEGORIES}
    asked_pin, dialled = [0] * WEEK_HOURS, [0] * WEEK_HOURS
    week_kinds, day_kinds = dict.fromkeys(Line.Kind.values, 0), dict.fromkeys(Line.Kind.values, 0)
    for hour, result, asked, was_dialled, kind, count in calls_per_hour(week_hours[0], end):
        position = index[hour.astimezone(UTC)]
        calls[result][position] += count
        if kind in week_kinds:
            week_kinds[kind] += count
            if position >= WEEK_HOURS - DAY_HOURS:
                day_kinds[kind] += count
        if asked:
            asked_pin[position] += count
        if was_dialled:
            dialled[position] += count
    week_texts, day_texts = texts_relayed(week_hours[0], day_hours[0], end)
    return Dashboard(
        now=now,
        day=Window(
            "24 hours",
            day_hours,
            {result: counts[-DAY_HOURS:] for result, counts in calls.items()},
            sum(asked_pin[-DAY_HOURS:]),
            sum(dialled[-DAY_HOURS:]),
            day_texts,
            day_kinds,
        ),
        week=Window("7 days", week_hours, calls, sum(asked_pin), sum(dialled), week_texts, week_kinds),
        pool=pool_advice(now),
        lines=live_lines_per_number(now),
    )
