"""The admin reads as the product: its name, headings, filters and messages."""

import pytest
from rest_framework_api_key.models import APIKey

from orders.models import Agent
from tests.support.admin_forms import admin_post_data

pytestmark = pytest.mark.django_db


def test_the_admin_is_named_for_the_service(admin_client):
    content = admin_client.get("/admin/").content.decode()

    assert "Django administration" not in content
    assert '<div id="site-name"><a href="/admin/">Number masking</a></div>' in content
    assert "<title>Dispatch | Number masking</title>" in content


def test_the_api_keys_section_is_called_api_keys(admin_client):
    content = admin_client.get("/admin/").content.decode()

    assert "API Key Permissions" not in content
    assert ">API keys</a>" in content


def test_recent_actions_sit_beside_the_app_list_not_below_the_tools(admin_client):
    content = admin_client.get("/admin/").content.decode()

    main = content.index('<div id="content-main">')
    assert main < content.index('id="masking-tools"') < content.index('<div id="content-related">')
    # The tools are inside #content-main: one opening div for it, closed before the sidebar.
    assert content.count('<div id="content-main">') == 1


@pytest.mark.parametrize("path", ["/admin/orders/agent/", "/admin/orders/proxynumber/"])
def test_the_active_filter_reads_active(admin_client, path):
    content = admin_client.get(path).content.decode()

    assert "By is active" not in content
    assert "<summary>Active</summary>" in content


def test_the_orders_proxy_number_filter_names_its_empty_entry(admin_client, live_order):
    content = admin_client.get("/admin/orders/order/").content.decode()

    assert "<summary>Proxy number</summary>" in content
    assert ">none yet</a>" in content
    assert ">-</a>" not in content


def test_a_duplicate_proxy_number_is_refused_in_a_sentence(admin_client, proxy_number):
    data = admin_post_data(admin_client.get("/admin/orders/proxynumber/add/"), number="+14155550100")

    response = admin_client.post("/admin/orders/proxynumber/add/", data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["number"] == ["This number is already in the proxy-number pool."]


def test_a_duplicate_agent_phone_is_refused_in_a_sentence(admin_client, agent):
    data = admin_post_data(admin_client.get("/admin/orders/agent/add/"), name="Bob 2", phone="+14156667778")

    response = admin_client.post("/admin/orders/agent/add/", data)

    assert response.context["adminform"].form.errors["phone"] == ["Another agent already has this phone number."]
    assert Agent.objects.count() == 1


def test_api_keys_show_a_plain_status_not_a_red_cross(admin_client):
    APIKey.objects.create_key(name="dispatch")
    revoked, _ = APIKey.objects.create_key(name="old")
    revoked.revoked = True
    revoked.save()

    content = admin_client.get("/admin/rest_framework_api_key/apikey/").content.decode()

    assert "icon-no.svg" not in content
    assert '<td class="field-status">active</td>' in content
    assert '<td class="field-status">revoked</td>' in content


def test_the_admin_refuses_a_second_api_key_with_the_same_name(admin_client):
    existing, _ = APIKey.objects.create_key(name="dispatch")
    data = admin_post_data(admin_client.get("/admin/rest_framework_api_key/apikey/add/"), name="dispatch")

    response = admin_client.post("/admin/rest_framework_api_key/apikey/add/", data)

    assert response.status_code == 200
    (error,) = response.context["adminform"].form.errors["name"]
    assert error.startswith(f"An API key named 'dispatch' already exists (prefix {existing.prefix})")
    assert APIKey.objects.count() == 1


def test_webhook_deliveries_are_named_so_and_task_results_are_for_superusers_only(
    admin_client, client, django_user_model
):
    from django.contrib.auth.models import Permission

    dispatcher = django_user_model.objects.create_user("dispatcher", password="pw-dispatcher-1", is_staff=True)
    dispatcher.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["orders", "django_tasks_db"])
    )
    client.force_login(dispatcher)

    home = client.get("/admin/").content.decode()
    assert ">Webhook deliveries</a>" in home and ">Deliveries</a>" not in home
    assert "Task Results" not in home
    assert client.get("/admin/django_tasks_db/dbtaskresult/").status_code in (403, 404)
    assert "Task Results" in admin_client.get("/admin/").content.decode()


def test_the_api_key_form_says_names_are_unique(admin_client):
    content = admin_client.get("/admin/rest_framework_api_key/apikey/add/").content.decode()

    assert "need not be unique" not in content.lower()
    assert "unique, revoked keys included" in content
