"""play_call and send_webhook against the live test server: what they print is what the server recorded."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orders import services
from orders.events.models import Event
from orders.models import Agent, Line, Order, ProxyNumber
from orders.phones import display
from voice.models import CallRecord, Recording
from voice.plivo import player

CUSTOMER, AGENT, PROXY = "14156667777", "14156667778", "14155550100"


@pytest.fixture
def server(live_server, settings):
    """The live server, with the URLs in its XML and the signature check naming it, as a local `make run` does."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PLIVO_AUTH_TOKEN = "player-test-token"
    return live_server.url


def play(*args: str) -> tuple[str, str]:
    """play_call's output, and the CallUUID it printed first."""
    out = StringIO()
    call_command("play_call", *args, stdout=out)
    text = out.getvalue()
    (call_uuid,) = re.findall(r"^Call ([0-9a-f-]{36}):", text.splitlines()[0])
    return text, call_uuid


def printed_duration(text: str) -> int:
    (duration,) = re.findall(r"/voice/hangup/\S* \(Duration=(\d+), BillDuration=\d+\) -> 200", text)
    return int(duration)


def events_of(call_uuid: str) -> dict[str, dict]:
    return {event.type: event.data for event in Event.objects.all() if event.data.get("call_uuid") == call_uuid}


def test_a_known_customer_talks_to_the_agent(server, live_order):
    text, call_uuid = play("--from", CUSTOMER, "--to", PROXY, "--talk", "42")

    record = CallRecord.objects.get(call_uuid=call_uuid)
    assert f"POST {server}/voice/answer/ -> 200" in text
    assert "Plivo rings +1 415 666 7778, showing +1 415 555 0100." in text
    assert f"POST {server}/voice/whisper/?order={live_order.pk}&callee=agent&caller=customer -> 200" in text
    assert f"callee hears: “Call from your customer about order {' '.join(live_order.reference)}.”" in text
    assert "The callee presses 1." in text
    assert "Connected: they talk for 42 s." in text
    assert f"POST {server}/voice/dial-status/ (DialStatus=completed) -> 200" in text
    assert record.order == live_order
    assert record.result == CallRecord.Result.TALKED
    assert record.dial_status == "completed"
    assert record.duration == printed_duration(text) >= 42
    assert events_of(call_uuid)["call.completed"]["duration"] == record.duration
    assert (
        text.splitlines()[-1]
        == f"Call {call_uuid} ended after {record.duration} s: talked 42 s; 4 of 4 requests answered 200."
    )


def test_an_unknown_caller_hears_the_message_and_is_hung_up_on(server, live_order, settings):
    text, call_uuid = play("--from", "14150001234", "--to", PROXY)

    record = CallRecord.objects.get(call_uuid=call_uuid)
    assert f"caller hears: “{settings.MASKING_UNKNOWN_CALLER_MESSAGE}”" in text
    assert "Plivo hangs up." in text
    assert "Plivo rings" not in text
    assert record.result == CallRecord.Result.UNKNOWN_CALLER
    assert record.duration == printed_duration(text)
    assert events_of(call_uuid) == {}
    assert text.splitlines()[-1].endswith(": not put through; 2 of 2 requests answered 200.")


def test_a_caller_with_two_orders_types_the_pin_and_is_put_through(server, live_order, settings):
    second_agent = Agent.objects.create(name="Dave", phone="+14156667780")
    second = services.assign_agent(
        Order.objects.create(customer_name="Alice", customer_phone="+" + CUSTOMER), second_agent
    )

    text, call_uuid = play("--from", CUSTOMER, "--to", PROXY, "--digits", second.masking.pin)

    record = CallRecord.objects.get(call_uuid=call_uuid)
    assert f"caller hears: “{settings.MASKING_PIN_PROMPT}”" in text
    assert f"The caller types {second.masking.pin}." in text
    assert f"POST {server}/voice/pin/?attempt=1 -> 200" in text
    assert "Plivo rings +1 415 666 7780" in text
    assert record.asked_pin and record.order == second
    assert record.result == CallRecord.Result.TALKED
    assert events_of(call_uuid)["call.completed"]["reference"] == second.reference


def test_a_missed_call_sends_the_text_and_takes_a_voicemail(server, live_order, settings):
    text, call_uuid = play("--from", CUSTOMER, "--to", PROXY, "--no-answer", "--talk", "12")

    record = CallRecord.objects.get(call_uuid=call_uuid)
    (recording,) = Recording.objects.filter(call=record)
    assert "The callee does not answer." in text
    assert f"POST {server}/voice/dial-status/ (DialStatus=no-answer) -> 200" in text
    assert "Plivo sends a text from +1 415 555 0100 to +1 415 666 7778: “Missed call from your customer" in text
    assert f"caller hears: “{settings.MASKING_VOICEMAIL_PROMPT}”" in text
    assert "The caller leaves a message of 12 s, then presses #." in text
    assert f"POST {server}/voice/voicemail/?call={call_uuid} (recording) -> 200" in text
    assert f"caller hears: “{settings.MASKING_VOICEMAIL_THANKS}”" in text
    assert record.result == CallRecord.Result.NO_ANSWER
    assert record.duration == printed_duration(text)
    assert recording.kind == Recording.Kind.VOICEMAIL and recording.duration == 12
    events = events_of(call_uuid)
    assert events["call.missed"]["reason"] == "no-answer"
    assert events["voicemail.received"]["duration"] == 12
    assert text.splitlines()[-1].endswith(": missed (no-answer), voicemail of 12 s; 5 of 5 requests answered 200.")


def test_a_busy_agent(server, live_order):
    text, call_uuid = play("--from", CUSTOMER, "--to", PROXY, "--busy")

    assert "The callee's line is busy." in text
    assert CallRecord.objects.get(call_uuid=call_uuid).result == CallRecord.Result.BUSY
    assert events_of(call_uuid)["call.missed"]["reason"] == "busy"


def test_a_click_to_call_bridge_greets_the_agent_then_rings_the_customer(server, live_order, settings):
    text, call_uuid = play("--click-to-call", live_order.reference, "--talk", "20")

    record = CallRecord.objects.get(call_uuid=call_uuid)
    # The URLs the worker gives Plivo (voice.tasks.place_call): the party rung first and the one dialled next.
    bridge = f"{server}/voice/bridge/?order={live_order.pk}&first=agent&to=customer"
    assert f"POST {bridge} -> 200" in text
    assert "agent hears: “Connecting you to your customer for order" in text
    assert "Plivo rings +1 415 666 7777, showing +1 415 555 0100." in text
    assert "customer hears: “Call from your delivery agent about order" in text
    assert f"POST {server}/voice/hangup/?order={live_order.pk}&first=agent&to=customer (Duration=" in text
    assert record.initiated_by == CallRecord.Initiator.PLATFORM
    assert record.order == live_order and record.result == CallRecord.Result.TALKED
    assert record.duration == printed_duration(text)
    assert events_of(call_uuid)["call.completed"]["initiated_by"] == "platform"


def test_a_recorded_call_posts_the_recording_after_the_hangup(server, live_order, settings):
    settings.MASKING_RECORD_CALLS = True

    text, call_uuid = play("--from", CUSTOMER, "--to", PROXY, "--talk", "15")

    (recording,) = Recording.objects.filter(call__call_uuid=call_uuid)
    assert f"caller hears: “{settings.MASKING_RECORDING_NOTICE}”" in text
    assert text.index("/voice/hangup/") < text.index(f"/voice/recording/?call={call_uuid} (recording ready) -> 200")
    assert recording.kind == Recording.Kind.CALL and recording.duration == 15
    assert events_of(call_uuid)["recording.ready"]["duration"] == 15


def test_a_server_that_checks_another_url_refuses_and_the_command_says_why(server, live_order, settings):
    # The likeliest setup mistake: the server's PUBLIC_BASE_URL names 127.0.0.1, the request went to localhost.
    out = StringIO()
    settings.PUBLIC_BASE_URL = server.replace("localhost", "127.0.0.1")

    with pytest.raises(CommandError, match="The server refused the signature"):
        call_command("play_call", "--from", CUSTOMER, "--to", PROXY, "--server", server, stdout=out)

    assert f"POST {server}/voice/answer/ -> 403" in out.getvalue()
    assert not CallRecord.objects.exists()


def test_a_caller_that_is_not_a_number_is_refused_before_any_request(server):
    with pytest.raises(CommandError, match="--from hello: Not a phone number"):
        call_command("play_call", "--from", "hello", "--to", PROXY, stdout=StringIO())


def test_send_webhook_signs_one_request_and_prints_the_answer(server, live_order, settings):
    out = StringIO()

    call_command("send_webhook", "/voice/answer/", "CallUUID=sent-1", f"From={CUSTOMER}", f"To={PROXY}", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"POST {server}/voice/answer/ -> 200"
    assert f"<Number>{AGENT}</Number>" in lines[1]
    assert CallRecord.objects.get(call_uuid="sent-1").order == live_order


def test_send_webhook_says_when_the_server_refuses(server, live_order, monkeypatch):
    out = StringIO()
    real_send = player.send
    # The command and the live server share the settings: sign with a token the server does not hold.
    monkeypatch.setattr(player, "send", lambda method, url, form, token: real_send(method, url, form, "not-it"))

    with pytest.raises(CommandError, match="answered 403"):
        call_command("send_webhook", "/voice/hangup/", "CallUUID=x", stdout=out)

    assert out.getvalue().splitlines()[0] == f"POST {server}/voice/hangup/ -> 403"
    assert "Invalid Plivo signature." in out.getvalue()
    assert not CallRecord.objects.exists()


def test_send_webhook_refuses_a_field_without_a_value(server):
    with pytest.raises(CommandError, match="give each field as NAME=VALUE"):
        call_command("send_webhook", "/voice/answer/", "CallUUID", stdout=StringIO())


# The store, on its own line with the agent.
STORE = "14156667790"


@pytest.fixture
def store_line(server, agent) -> Line:
    """An order with a store; its customer–agent and store–agent lines on numbers of their own."""
    for number in (PROXY, "14155550101"):
        ProxyNumber.objects.create(number="+" + number)
    order, _ = services.create_order(
        reference="K7X4", customer_name="Alice", customer_phone="+" + CUSTOMER, store_phone="+" + STORE
    )
    return services.assign_agent(order, agent).line(Line.Kind.STORE_AGENT)


def test_the_store_calls_the_agent_over_its_line(server, store_line):
    number = str(store_line.proxy_number.number).lstrip("+")

    text, call_uuid = play("--from", STORE, "--to", number, "--talk", "25")

    record = CallRecord.objects.get(call_uuid=call_uuid)
    assert f"Call {call_uuid}: +1 415 666 7790 calls {display(store_line.proxy_number.number)}." in text
    assert f"Plivo rings +1 415 666 7778, showing {display(store_line.proxy_number.number)}." in text
    order = store_line.order
    assert f"POST {server}/voice/whisper/?order={order.pk}&callee=agent&caller=store -> 200" in text
    assert "callee hears: “Call from the store about order K 7 X 4.”" in text
    assert "Connected: they talk for 25 s." in text
    assert (record.line_id, record.caller_role, record.result) == (store_line.pk, "store", CallRecord.Result.TALKED)
    completed = events_of(call_uuid)["call.completed"]
    assert (completed["parties"], completed["caller_role"], completed["callee_role"]) == (
        ["store", "agent"],
        "store",
        "agent",
    )
    assert completed["proxy_number"] == str(store_line.proxy_number.number)
    assert completed["duration"] == record.duration == printed_duration(text)


def test_a_click_to_call_from_the_agent_to_the_store(server, store_line):
    order = store_line.order

    text, call_uuid = play("--click-to-call", "K7X4", "--first", "agent", "--to", "store", "--talk", "20")

    record = CallRecord.objects.get(call_uuid=call_uuid)
    query = f"?order={order.pk}&first=agent&to=store"
    shown = display(store_line.proxy_number.number)
    assert f"Plivo rang the agent from {shown}, who answered; the store is dialled next." in text
    assert f"POST {server}/voice/bridge/{query} -> 200" in text
    assert "agent hears: “Connecting you to the store for order K 7 X 4.”" in text
    assert f"Plivo rings +1 415 666 7790, showing {shown}." in text
    assert "store hears: “Call from your delivery agent about order K 7 X 4.”" in text
    assert f"POST {server}/voice/hangup/{query} (Duration=" in text
    assert (record.line_id, record.caller_role, record.initiated_by) == (
        store_line.pk,
        "agent",
        CallRecord.Initiator.PLATFORM,
    )
    assert record.result == CallRecord.Result.TALKED and record.duration == printed_duration(text)
    completed = events_of(call_uuid)["call.completed"]
    assert (completed["parties"], completed["caller_role"], completed["callee_role"]) == (
        ["store", "agent"],
        "agent",
        "store",
    )
    assert completed["initiated_by"] == "platform"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--first", "store"], "Name the party to connect the store to: --to agent or --to customer."),
        (["--first", "agent", "--to", "agent"], "--to agent: with --click-to-call, name another party"),
        (["--first", "customer", "--to", "store"], "Order K7X4 has no line between the customer and the store"),
    ],
)
def test_a_click_to_call_between_parties_without_a_line_is_refused(server, store_line, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("play_call", "--click-to-call", "K7X4", *args, stdout=StringIO())
