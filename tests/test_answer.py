import xml.etree.ElementTree as ET

import pytest

from voice.models import CallRecord

from .conftest import AGENT_PHONE, CUSTOMER, PROXY, call_params

pytestmark = pytest.mark.django_db


def dial_of(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root.find("Dial")


def test_it_connects_the_customer_to_the_agent(plivo, live_order):
    response = plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="call-1"))

    dial = dial_of(response)
    assert dial.get("callerId") == "14155550100"
    assert dial.find("Number").text == "14156667778"
    record = CallRecord.objects.get(call_uuid="call-1")
    assert record.order == live_order
    assert record.caller_role == "customer"
    assert record.outcome == "connected"
    assert record.dialled_number == CUSTOMER.replace("7777", "7778") == AGENT_PHONE


def test_it_connects_the_agent_to_the_customer(plivo, live_order):
    response = plivo.signed_post("/voice/answer/", call_params("+14156667778"))

    dial = dial_of(response)
    assert dial.get("callerId") == PROXY.lstrip("+")
    assert dial.find("Number").text == "14156667777"


def test_it_rejects_an_unsigned_request(client, live_order):
    response = client.post("/voice/answer/", call_params("14156667777"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()
