"""The admin's call simulator: the seed tutorial's "check the XML in your
browser", without opening the signed webhook to anyone."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from lxml import etree

from orders.models import Order
from orders.routing import Action, resolve, resolve_pin

from . import calls, xml


class CallSimulatorForm(forms.Form):
    caller = forms.CharField(label="From (caller)", max_length=64, help_text="As Plivo sends it, e.g. 14156667777.")
    proxy_number = forms.CharField(label="To (proxy number)", max_length=64)
    digits = forms.RegexField(
        label="PIN typed", regex=r"^\d{1,8}$", required=False, help_text="Leave empty for the answer webhook."
    )


def _pretty(answer: str) -> str:
    # One line is what Plivo gets; staff read it indented.
    return etree.tostring(etree.fromstring(answer.encode()), pretty_print=True, encoding="unicode")


def call_plan(caller: str, proxy_number: str, digits: str = "") -> list[tuple[str, str]]:
    """What the callee and the caller will hear beyond the answer XML: the whisper, the key, a miss."""
    route = resolve_pin(caller, proxy_number, digits) if digits else resolve(caller, proxy_number)
    if route.action != Action.CONNECT or route.order_id is None:
        return []
    reference = Order.objects.filter(pk=route.order_id).values_list("reference", flat=True).first() or ""
    callee = calls.CALLEE_ROLES[route.role]
    plan = []
    whisper = xml.whisper_texts(reference, callee.value)
    if whisper:
        plan.append((f"The {callee.label.lower()} hears first", " ".join(whisper)))
    key = settings.MASKING_ACCEPT_KEY
    plan.append(
        (
            "Accept key",
            f"{key}, within {settings.MASKING_ACCEPT_TIMEOUT} s; the caller is connected only once it is pressed"
            if key
            else "none: the caller is connected as soon as the callee answers",
        )
    )
    if settings.MASKING_RECORD_CALLS:
        plan.append(
            (
                "Recording",
                f"the caller hears “{settings.MASKING_RECORDING_NOTICE}” before the ring, the "
                f"{callee.label.lower()} hears it in the whisper; only the conversation is recorded",
            )
        )
    missed = []
    if settings.MASKING_MISSED_CALL_SMS and route.proxy_number:
        text = xml.missed_call_text(reference, route.role, route.proxy_number)
        missed.append(f"the {callee.label.lower()} gets the text “{text}”")
    if settings.MASKING_VOICEMAIL:
        missed.append(
            f"the caller hears “{settings.MASKING_VOICEMAIL_PROMPT}” and can leave a message of up to "
            f"{settings.MASKING_VOICEMAIL_MAX_SECONDS} s"
        )
    else:
        missed.append(f"the caller hears “{settings.MASKING_NOT_AVAILABLE_MESSAGE}”")
    plan.append(("No answer, busy, unreachable or key not pressed", "; ".join(missed)))
    return plan


def call_simulator(request: HttpRequest) -> HttpResponse:
    form = CallSimulatorForm(request.GET or None)
    answer_xml, plan = None, []
    if form.is_valid():
        data = form.cleaned_data
        answer_xml = _pretty(calls.simulate(data["caller"], data["proxy_number"], data["digits"]))
        plan = call_plan(data["caller"], data["proxy_number"], data["digits"])
    context = {
        **admin.site.each_context(request),
        "title": "Call simulator",
        "form": form,
        "answer_xml": answer_xml,
        "plan": plan,
    }
    return TemplateResponse(request, "admin/call_simulator.html", context)
