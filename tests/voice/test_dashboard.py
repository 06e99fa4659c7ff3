"""The operations dashboard (voice/dashboard.py, voice/dashboard_page.py) against hand-computed figures."""

import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, ProxyNumber
from tests.support.webhooks import answer, dial_status, hangup, type_pin
from tests.support.world import open_line
from voice.models import RESULT_BY_DIAL_STATUS, CallRecord, MessageRecord
from voice.ops import dashboard as dash
from voice.ops.views import pool_sentence

pytestmark = pytest.mark.django_db

Outcome = CallRecord.Outcome
# A fixed "now": half past noon. The windows are whole UTC hours, the current one included.
NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
NOON = NOW.replace(minute=0)


def call(started_at: datetime, outcome: str, dial_status: str = "", *, ended: bool = True, asked_pin: bool = False):
    return CallRecord(
        call_uuid=f"call-{started_at.isoformat()}-{outcome}-{dial_status}",
        outcome=outcome,
        dial_status=dial_status,
        asked_pin=asked_pin,
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=1) if ended else None,
    )


def text(received_at: datetime, outcome: str = MessageRecord.Outcome.RELAYED) -> MessageRecord:
    return MessageRecord(
        message_uuid=f"text-{received_at.isoformat()}-{outcome}", outcome=outcome, received_at=received_at
    )


@pytest.fixture
def week_of_calls():
    """Calls in and around both windows, each commented with what it counts as."""
    day_start = NOON - timedelta(hours=23)  # 13:00 yesterday
    week_start = NOON - timedelta(hours=167)  # 13:00 seven days ago
    CallRecord.objects.bulk_create(
        [
            # The current hour.
            call(NOON + timedelta(minutes=5), Outcome.CONNECTED, "completed"),  # talked
            call(NOON + timedelta(minutes=10), Outcome.CONNECTED, "no-answer"),  # no answer
            call(NOON + timedelta(minutes=15), Outcome.CONNECTED, "completed", asked_pin=True),  # talked, asked
            call(NOON + timedelta(minutes=20), Outcome.PIN_PROMPTED, asked_pin=True),  # ended before connecting, asked
            call(NOON + timedelta(minutes=25), Outcome.CONNECTED, ended=False),  # in progress
            # Earlier today.
            call(NOON - timedelta(hours=3), Outcome.REJECTED, asked_pin=True),  # 09:00 PIN refused, asked
            call(NOON - timedelta(hours=2, minutes=1), Outcome.UNKNOWN),  # 09:59 unknown caller
            call(NOON - timedelta(hours=2, minutes=30), Outcome.CONNECTED, "busy"),  # 09:30 busy
            call(
                NOON - timedelta(hours=1), "mystery"
            ),  # 11:00 an outcome no rule knows, no dial status: ended before connecting
            # The 24 hours' first instant, and the one before it (7 days only).
            call(day_start, Outcome.CONNECTED, "completed"),  # talked
            call(day_start - timedelta(minutes=1), Outcome.CONNECTED, "completed"),  # talked, 7 days only
            # Three days ago: 7 days only.
            call(NOON - timedelta(days=3), Outcome.CONNECTED, "cancel"),  # ended before connecting, while it rang
            call(NOON - timedelta(days=3, minutes=-5), Outcome.PIN_PROMPTED, asked_pin=True),  # ended before connecting
            # The week's first instant, and outside both windows.
            call(week_start, Outcome.UNKNOWN),  # unknown caller, 7 days only
            call(week_start - timedelta(minutes=1), Outcome.CONNECTED, "completed"),  # outside
            call(NOON - timedelta(days=8), Outcome.CONNECTED, "completed"),  # outside
            call(NOON + timedelta(hours=1), Outcome.CONNECTED, "completed"),  # after the current hour: outside
        ]
    )
    MessageRecord.objects.bulk_create(
        [
            text(NOON),  # both windows
            text(NOON - timedelta(hours=2), MessageRecord.Outcome.PIN_PROMPTED),  # not relayed
            text(day_start),  # both windows
            text(day_start - timedelta(seconds=1)),  # 7 days only
            text(week_start - timedelta(seconds=1)),  # outside
        ]
    )


def totals(window: dash.Window) -> dict[str, int]:
    return {category: window.total(category) for category in dash.CATEGORIES}


def test_the_last_24_hours_count_each_result_and_the_rates(week_of_calls):
    day = dash.dashboard(NOW).day

    assert totals(day) == {
        "talked": 3,
        "no_answer": 1,
        "busy": 1,
        "failed": 0,
        "ended_before_connecting": 2,
        "pin_refused": 1,
        "unknown_caller": 1,
        "blocked": 0,
        "limit_reached": 0,
        "in_progress": 1,
    }
    assert day.total() == 10
    assert day.asked_pin == 3
    assert day.dialled == 5
    assert day.answer_rate == pytest.approx(3 / 5)
    assert day.missed_rate == pytest.approx(2 / 5)
    assert day.pin_prompt_rate == pytest.approx(3 / 10)
    assert day.texts_relayed == 2


def test_the_last_7_days_count_each_result_and_the_rates(week_of_calls):
    week = dash.dashboard(NOW).week

    assert totals(week) == {
        "talked": 4,
        "no_answer": 1,
        "busy": 1,
        "failed": 0,
        "ended_before_connecting": 4,
        "pin_refused": 1,
        "unknown_caller": 2,
        "blocked": 0,
        "limit_reached": 0,
        "in_progress": 1,
    }
    assert week.total() == 14
    assert week.dialled == 7  # the cancelled call rang the other phone
    assert week.answer_rate == pytest.approx(4 / 7)
    assert week.missed_rate == pytest.approx(3 / 7)
    assert week.pin_prompt_rate == pytest.approx(4 / 14)
    assert week.texts_relayed == 3


def test_calls_land_in_their_hour(week_of_calls):
    day = dash.dashboard(NOW).day

    assert len(day.hours) == 24
    assert (day.hours[0], day.hours[-1]) == (NOON - timedelta(hours=23), NOON)
    assert day.hours[-1 - 3] == NOON - timedelta(hours=3)
    current = {category: counts[-1] for category, counts in day.calls.items() if counts[-1]}
    assert current == {"talked": 2, "no_answer": 1, "ended_before_connecting": 1, "in_progress": 1}
    nine = {category: counts[-1 - 3] for category, counts in day.calls.items() if counts[-1 - 3]}
    assert nine == {"pin_refused": 1, "unknown_caller": 1, "busy": 1}
    assert {category: counts[0] for category, counts in day.calls.items() if counts[0]} == {"talked": 1}


def test_the_week_has_an_hour_for_each_of_168_and_the_day_is_its_end(week_of_calls):
    figures = dash.dashboard(NOW)

    assert len(figures.week.hours) == 168
    assert figures.week.hours[-24:] == figures.day.hours
    assert figures.week.hours[0] == NOON - timedelta(hours=167)


def test_no_calls_means_no_rates_rather_than_zero():
    day = dash.dashboard(NOW).day

    assert day.total() == 0
    assert (day.answer_rate, day.missed_rate, day.pin_prompt_rate) == (None, None, None)


def test_the_dashboard_is_five_queries_however_many_calls(week_of_calls, django_assert_num_queries):
    # Calls per hour, texts, the pool's two and the lines per number.
    with django_assert_num_queries(5):
        dash.dashboard(NOW)


DIAL_STATUSES = ["", *RESULT_BY_DIAL_STATUS, "not-accepted", "something-new"]
OUTCOMES = [*Outcome.values, "mystery"]


def test_the_dashboard_counts_each_call_under_the_result_its_record_shows():
    combinations = list(itertools.product(OUTCOMES, DIAL_STATUSES, (True, False)))
    CallRecord.objects.bulk_create(
        CallRecord(
            call_uuid=f"combo-{number}",
            outcome=outcome,
            dial_status=status,
            started_at=NOON,
            ended_at=NOW if ended else None,
        )
        for number, (outcome, status, ended) in enumerate(combinations)
    )

    records = list(CallRecord.objects.annotate(call_result=CallRecord.result_expression()))
    for record in records:
        assert record.call_result == record.result.value, (record.outcome, record.dial_status, record.ended_at)
    day = dash.dashboard(NOW).day
    shown = {result: total for result, total in totals(day).items() if total}
    assert shown == dict(Counter(record.result.value for record in records))
    assert day.dialled == sum(1 for record in records if record.dial_status)
    assert day.total() == len(combinations)


def test_every_result_has_its_place_on_the_chart_with_the_records_label():
    assert {result.value: result.label for result in CallRecord.Result} == dash.CATEGORIES


def test_a_pin_prompt_is_remembered_when_the_right_pin_connects_the_call(plivo, proxy_number, agent):
    orders = [open_line("+14156667777", agent), open_line("+14156667777", agent)]
    assert (
        orders[0].masking.proxy_number_id == orders[1].masking.proxy_number_id
    )  # one number in the pool: a PIN is asked
    answer(plivo, call_uuid="asked")
    type_pin(plivo, orders[0].masking.pin, call_uuid="asked")
    dial_status(plivo, "completed", call_uuid="asked")
    hangup(plivo, call_uuid="asked")
    answer(plivo, caller="14156660000", call_uuid="stranger")

    record = CallRecord.objects.get(call_uuid="asked")
    assert (record.outcome, record.asked_pin) == (Outcome.CONNECTED, True)
    assert CallRecord.objects.get(call_uuid="stranger").asked_pin is False
    day = dash.dashboard().day
    assert (day.total("talked"), day.total("unknown_caller"), day.asked_pin) == (1, 1, 1)
    assert day.pin_prompt_rate == pytest.approx(1 / 2)


@pytest.mark.parametrize(
    ("n", "pool_size", "sentence"),
    [
        (3, 4, "N = 3 (the most live orders one customer or agent holds), so 2N − 1 = 5 numbers are needed; "
         "you have 4: add 1."),
        (1, 2, "N = 1 (the most live orders one customer or agent holds), so 2N − 1 = 1 number is needed; "
         "you have 2: enough."),
        (0, 3, "No live orders today; you have 3 numbers."),
    ],
)  # fmt: skip
def test_the_pool_advice_reads_as_a_sentence(n, pool_size, sentence):
    from orders.pool import PoolAdvice, numbers_needed

    assert pool_sentence(PoolAdvice("US", n, pool_size, numbers_needed(n))) == sentence


# The page.


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("ops", password="a-long-ops-password", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_callrecord"))
    return user


@pytest.fixture
def busy_pool():
    """Two US numbers; Dave holds three live orders, so N = 3 and 2N − 1 = 5: add 3."""
    ProxyNumber.objects.create(number="+14155550100")
    ProxyNumber.objects.create(number="+14155550101")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    for customer in ("+14156660001", "+14156660002", "+14156660003"):
        open_line(customer, dave)


def test_staff_with_the_call_log_see_the_dashboard_on_the_home_page(client, staff, busy_pool):
    client.force_login(staff)
    CallRecord.objects.create(call_uuid="now", outcome=Outcome.CONNECTED, dial_status="completed")

    home = client.get("/admin/").content.decode()
    panel = client.get("/admin/dashboard/?part=panel").content.decode()
    page = client.get("/admin/dashboard/").content.decode()

    assert 'id="dashboard"' in home and "/admin/dashboard/?part=panel" in home and "voice/dashboard.js" in home
    assert "pygal-chart" not in home, "the home page stays light: the panel comes after it"
    assert panel.count("<svg") == 3  # 24 hours, 7 days, lines per number
    assert "pygal.org/" not in panel.replace("<!--http://pygal.org-->", ""), "no script from pygal's CDN"
    assert 'src="http' not in panel and "<html" not in panel
    assert (
        "N = 3 (the most live orders one customer or agent holds), so 2N − 1 = 5 numbers are needed; "
        "you have 2: add 3." in panel
    )
    assert "2N − 1" in panel and "Answer rate" in panel and "Texts relayed" in panel
    assert "<html" in page and 'id="dashboard-panel"' in page


def test_staff_without_the_call_log_neither_see_nor_fetch_it(client, django_user_model):
    user = django_user_model.objects.create_user("dispatcher", password="a-long-password", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(user)

    assert 'id="dashboard"' not in client.get("/admin/").content.decode()
    assert client.get("/admin/dashboard/?part=panel").status_code == 403
    assert CallRecord.objects.count() == 0


def test_people_who_are_not_staff_are_sent_to_log_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("customer", password="a-long-password"))

    response = client.get("/admin/dashboard/?part=panel")

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_panel_costs_the_same_queries_with_more_calls(client, staff, busy_pool):
    client.force_login(staff)

    def panel_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/dashboard/?part=panel").status_code == 200
        return len(queries)

    before = panel_queries()
    now = timezone.now()
    CallRecord.objects.bulk_create(
        call(now - timedelta(hours=hours), Outcome.CONNECTED, "completed") for hours in range(0, 200, 3)
    )
    assert panel_queries() == before


def test_blocked_limited_and_unanswered_click_to_calls_have_their_own_places(db):
    CallRecord.objects.bulk_create(
        [
            call(NOON, Outcome.BLOCKED),
            call(NOON, Outcome.LIMITED),
            call(NOON, Outcome.NOT_ANSWERED, "no-answer"),  # the first party of a click-to-call never answered
        ]
    )

    assert {category: total for category, total in totals(dash.dashboard(NOW).day).items() if total} == {
        "blocked": 1,
        "limit_reached": 1,
        "no_answer": 1,
    }


@pytest.fixture
def calls_over_lines(agent, settings):
    """Calls over each kind of line of one order with a store, and calls over none, in and around both windows."""
    settings.MASKING_CUSTOMER_STORE_LINE = True
    ProxyNumber.objects.bulk_create(ProxyNumber(number=f"+1415555010{i}") for i in range(3))
    order, _ = services.create_order(
        reference="K7X4", customer_name="Alice", customer_phone="+14156667777", store_phone="+14156667790"
    )
    lines = {line.kind: line for line in services.assign_agent(order, agent).lines.all()}
    assert set(lines) == set(Line.Kind.values)
    placed = [
        (NOON, Line.Kind.CUSTOMER_AGENT),  # both windows
        (NOON - timedelta(hours=5), Line.Kind.CUSTOMER_AGENT),  # both windows
        (NOON, Line.Kind.STORE_AGENT),  # both windows
        (NOON - timedelta(days=2), Line.Kind.STORE_AGENT),  # 7 days only
        (NOON - timedelta(days=3), Line.Kind.STORE_AGENT),  # 7 days only
        (NOON - timedelta(days=6), Line.Kind.CUSTOMER_STORE),  # 7 days only
        (NOON - timedelta(days=8), Line.Kind.CUSTOMER_STORE),  # outside
        (NOON, None),  # no line (an unknown caller): in no kind
    ]
    CallRecord.objects.bulk_create(
        CallRecord(
            call_uuid=f"line-{number}",
            outcome=Outcome.CONNECTED if kind else Outcome.UNKNOWN,
            dial_status="completed" if kind else "",
            started_at=started_at,
            ended_at=started_at + timedelta(minutes=1),
            line=lines[kind] if kind else None,
        )
        for number, (started_at, kind) in enumerate(placed)
    )


def test_calls_are_counted_by_the_kind_of_their_line(calls_over_lines):
    figures = dash.dashboard(NOW)

    assert figures.day.by_kind == {"customer_agent": 2, "store_agent": 1, "customer_store": 0}
    assert figures.week.by_kind == {"customer_agent": 2, "store_agent": 3, "customer_store": 1}
    assert (figures.day.total(), figures.week.total()) == (4, 7)  # the call over no line is in the totals only


def test_calls_by_line_kind_cost_no_query_of_their_own(calls_over_lines, django_assert_num_queries):
    with django_assert_num_queries(5):
        dash.dashboard(NOW)


def test_the_panel_shows_calls_by_line_kind(client, staff, calls_over_lines):
    client.force_login(staff)
    now = timezone.now()
    CallRecord.objects.filter(call_uuid__in=["line-0", "line-3"]).update(started_at=now)  # customer–agent, store–agent

    panel = client.get("/admin/dashboard/?part=panel").content.decode()

    table = re.search(r'<table id="dashboard-line-kinds">(.*?)</table>', panel, re.S).group(1)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>', table)
    assert rows == [("Customer–agent", "1", "1"), ("Store–agent", "1", "1"), ("Customer–store", "0", "0")]
