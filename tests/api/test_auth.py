import io

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from orders.models import Agent
from tests.support.api import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_row(db) -> Agent:
    return Agent.objects.create(name="Bob", phone="+14156667778")


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_a_request_without_a_key_is_refused_without_data(agent_row):
    response = client_with(None).get("/api/v1/agents/")

    body = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert "Bob" not in response.content.decode()
    assert "Api-Key" in body["detail"]


@pytest.mark.parametrize(
    "header",
    ["Api-Key not-a-key", "Api-Key abcdefgh.wrongsecretwrongsecretwrongsecret", "Api-Key ", "Bearer x"],
)
def test_a_wrong_key_is_refused(agent_row, api_key, header):
    response = client_with(header).get(f"/api/v1/agents/{agent_row.pk}/")

    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert "Bob" not in response.content.decode()


def test_a_key_with_the_right_prefix_but_a_wrong_secret_is_refused(agent_row, api_key):
    key, secret = api_key
    forged = f"{key.prefix}.{'x' * 32}"

    response = client_with(f"Api-Key {forged}").get("/api/v1/agents/")

    assert_error(response, 401, "authentication_failed")


def test_a_revoked_key_is_refused(agent_row, api_key):
    key, secret = api_key
    key.revoked = True
    key.save()

    response = client_with(f"Api-Key {secret}").get("/api/v1/agents/")

    assert_error(response, 401, "authentication_failed")
    assert "Bob" not in response.content.decode()


def test_an_expired_key_is_refused(agent_row, api_key):
    key, secret = api_key
    key.expiry_date = timezone.now() - timezone.timedelta(minutes=1)
    key.save()

    response = client_with(f"Api-Key {secret}").get("/api/v1/agents/")

    assert_error(response, 401, "authentication_failed")


def test_a_valid_key_gets_the_data(agent_row, api_key):
    response = client_with(f"Api-Key {api_key[1]}").get("/api/v1/agents/")

    assert response.status_code == 200
    assert [agent["name"] for agent in response.json()["results"]] == ["Bob"]


def test_a_refused_key_cannot_write(api_key):
    key, secret = api_key
    key.revoked = True
    key.save()

    response = client_with(f"Api-Key {secret}").post(
        "/api/v1/agents/", {"name": "Eve", "phone": "+14155550199"}, format="json"
    )

    assert response.status_code == 401
    assert not Agent.objects.exists()


def test_create_api_key_prints_a_working_key_once_and_stores_only_its_hash():
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_key", "dispatch", stdout=out, stderr=err)

    key = out.getvalue().strip()
    stored = APIKey.objects.get()
    assert stored.name == "dispatch"
    assert key.startswith(stored.prefix + ".")
    assert key not in stored.hashed_key and key != stored.id
    assert APIKey.objects.is_valid(key)
    assert "shown only now" in err.getvalue()
    assert client_with(f"Api-Key {key}").get("/api/v1/orders/").status_code == 200


def test_create_api_key_refuses_an_empty_name():
    with pytest.raises(Exception, match="name of 1 to 50 characters"):
        call_command("create_api_key", "  ", stdout=io.StringIO(), stderr=io.StringIO())
    assert not APIKey.objects.exists()


def test_each_key_is_throttled_on_its_own(settings, api_key):
    settings.API_THROTTLE_RATE = "2/min"
    other_key = APIKey.objects.create_key(name="other")[1]
    first = client_with(f"Api-Key {api_key[1]}")

    statuses = [first.get("/api/v1/orders/").status_code for _ in range(3)]
    other = client_with(f"Api-Key {other_key}").get("/api/v1/orders/")

    assert statuses == [200, 200, 429]
    assert other.status_code == 200
    throttled = first.get("/api/v1/orders/")
    assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0


def test_the_schema_and_docs_are_served_without_a_key_and_without_a_cdn():
    client = APIClient()

    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/v1/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/orders/{reference}/assign/" in paths
    assert schema.json()["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_the_swagger_ui_assets_ship_with_the_project():
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")


def test_staff_revoke_a_key_in_the_admin_and_it_stops_working(admin_client, api_key):
    key, secret = api_key

    changelist = admin_client.get("/admin/rest_framework_api_key/apikey/")
    response = admin_client.post(
        f"/admin/rest_framework_api_key/apikey/{key.pk}/change/",
        {"name": "dispatch", "revoked": "on", "expiry_date_0": "", "expiry_date_1": ""},
    )

    assert changelist.status_code == 200
    assert "dispatch" in changelist.content.decode()
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked is True
    assert_error(client_with(f"Api-Key {secret}").get("/api/v1/orders/"), 401, "authentication_failed")


def test_the_schema_documents_the_error_statuses_each_endpoint_can_answer():
    paths = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]

    assign = paths["/api/v1/orders/{reference}/assign/"]["post"]["responses"]
    create = paths["/api/v1/orders/"]["post"]["responses"]
    cancel = paths["/api/v1/orders/{reference}/cancel/"]["post"]["responses"]
    assert set(assign) == {"200", "400", "401", "404", "409", "415", "429", "503"}
    assert set(create) == {"200", "201", "400", "401", "409", "415", "429"}
    assert set(cancel) == {"200", "401", "404", "409", "429"}
    assert assign["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
