"""/healthz: what a load balancer asks before sending calls to this process."""

from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_it_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_it_answers_a_load_balancers_head_probe(client):
    assert client.head("/healthz").status_code == 200


def test_it_answers_503_when_the_database_does_not(client, caplog):
    broken = mock.Mock()
    broken.cursor.side_effect = OperationalError("connection refused")

    with mock.patch("numbermasking.ops.connection", broken):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert b"database unavailable" in response.content
    assert "database unavailable" in caplog.text
