"""The admin's call simulator: the seed tutorial's "check the XML in your
browser", without opening the signed webhook to anyone."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.core.management.base import CommandError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from lxml import etree

from orders.models import Line, Order, ProxyNumber, Role, call_limit
from orders.phones import display, to_e164
from orders.routing import Action, Route, asked_for_pin, resolve, resolve_pin

from .. import calls
from ..plivo import xml

NOT_A_NUMBER = "Not a phone number: give it with its country code, as Plivo sends it (14156667777 or +14156667777)."


def number_problem(value: str) -> tuple[str | None, str | None]:
    """``(E.164, None)`` for a number, else ``(None, the sentence to show)``.

    The webhook answers such a call as an unknown caller; in the simulator
    it is a typing mistake to point out, not a call to simulate.
    """
    e164 = to_e164(value)
    return (e164, None) if e164 else (None, NOT_A_NUMBER)


def option_number(option: str, value: str) -> str:
    """A command's number option in E.164; CommandError naming the option when it is no number.

    simulate_call and play_call refuse a typing mistake the same way the admin's simulator does.
    """
    e164, problem = number_problem(value)
    if problem:
        raise CommandError(f"{option} {value}: {problem}")
    return e164


def pool_problem(proxy_number: str) -> str | None:
    """Why ``proxy_number`` (E.164) cannot be called, when it is not one of your proxy numbers; else None."""
    if ProxyNumber.objects.filter(number=proxy_number).exists():
        return None
    return (
        f"{display(proxy_number)} is not in your pool: it is not one of your proxy numbers, so Plivo would not "
        "send its calls here (add it under Proxy numbers, or run plivo_sync_numbers)."
    )


class CallSimulatorForm(forms.Form):
    caller = forms.CharField(label="From (caller)", max_length=64, help_text="As Plivo sends it, e.g. 14156667777.")
    proxy_number = forms.CharField(label="To (proxy number)", max_length=64)
    digits = forms.RegexField(
        label="PIN typed", regex=r"^\d{1,8}$", required=False, help_text="Leave empty for the answer webhook."
    )

    def _phone(self, name: str) -> str:
        e164, problem = number_problem(self.cleaned_data[name])
        if e164 is None:
            raise forms.ValidationError(problem)
        return e164

    def clean_caller(self) -> str:
        return self._phone("caller")

    def clean_proxy_number(self) -> str:
        e164 = self._phone("proxy_number")
        problem = pool_problem(e164)
        if problem:
            raise forms.ValidationError(problem)
        return e164


def _pretty(answer: str) -> str:
    # One line is what Plivo gets; staff read it indented.
    return etree.tostring(etree.fromstring(answer.encode()), pretty_print=True, encoding="unicode")


def summary(route: Route, *, digits: str = "") -> str:
    """What the call would do, in a sentence: "Would ring Bob (demo agent) for DEMO-1, showing +1 415 555 0100."."""
    showing = display(route.proxy_number) if route.proxy_number else "this number"
    if route.action == Action.CONNECT:
        order = Order.objects.select_related("agent").get(pk=route.order_id)
        names = {Role.CUSTOMER: order.customer_name, Role.AGENT: order.agent.name, Role.STORE: order.store_name}
        callee = names[route.callee_role] or f"the {route.callee_role.value}"
        return f"Would ring {callee} for {order.reference}, showing {showing}."
    if route.action == Action.ASK_PIN:
        return (
            f"Would ask for the order PIN: this caller has several live orders on {showing}. "
            "Type a PIN above to see where it leads."
        )
    if route.action == Action.UNAVAILABLE:
        return f"The order's agent on {showing} is inactive: would say the other party is not available."
    if route.action == Action.BLOCKED:
        return "This caller's number is blocked: would say the unknown-caller message and hang up, connecting no one."
    if route.action == Action.LIMITED:
        reference = Order.objects.filter(pk=route.order_id).values_list("reference", flat=True).first()
        return (
            f"This {route.role.label.lower()} has made {call_limit()} or more calls on the line of {reference} "
            "in the last hour (MASKING_MAX_CALLS_PER_HOUR): would say the call-limit message and hang up."
        )
    if digits:
        return f"No live order of this caller on {showing} has PIN {digits}: would ask for the PIN again."
    if settings.MASKING_SUPPORT_NUMBER:
        return (
            f"No live order of this caller on {showing}: would put the call through to support "
            f"({display(settings.MASKING_SUPPORT_NUMBER)})."
        )
    return f"No live order of this caller on {showing}: would say the unknown-caller message and hang up."


# The parties the order page's links simulate, by the ``party`` query value.
PARTIES_SIMULATED = {role.value: role for role in (Role.CUSTOMER, Role.AGENT, Role.STORE)}


def line_of_party(order: Order, party: Role) -> Line | None:
    """The line the simulator tries for ``party`` of ``order``: the customer–agent line for the customer and the
    agent, the store–agent line for the store (its customer–store line when it has no store–agent line)."""
    if party != Role.STORE:
        return order.masking
    return order.line(Line.Kind.STORE_AGENT) or order.line(Line.Kind.CUSTOMER_STORE)


def _initial_for_order(request: HttpRequest) -> dict[str, str] | None:
    """The form's data for ``?order=REF&party=customer|agent|store``: that party calling its line's number."""
    order = Order.objects.select_related("agent").filter(reference=request.GET["order"]).first()
    party = PARTIES_SIMULATED.get(request.GET.get("party", ""), Role.CUSTOMER)
    line = line_of_party(order, party) if order is not None else None
    if line is None or not order.phone_of(party):
        return None
    # A party who would be asked for the PIN types the one the order page shows: the simulated call goes on
    # to the PIN webhook's answer, as the real one would.
    digits = line.pin if asked_for_pin(order, line, party) else ""
    return {"caller": order.phone_of(party), "proxy_number": str(line.proxy_number.number), "digits": digits}


def call_plan(caller: str, proxy_number: str, digits: str = "") -> list[tuple[str, str]]:
    """What the callee and the caller will hear beyond the answer XML: the whisper, the key, a miss."""
    route = resolve_pin(caller, proxy_number, digits) if digits else resolve(caller, proxy_number)
    if route.action != Action.CONNECT or route.order_id is None:
        return []
    reference = Order.objects.filter(pk=route.order_id).values_list("reference", flat=True).first() or ""
    callee = route.callee_role
    plan = []
    whisper = xml.whisper_texts(reference, callee.value, route.role.value)
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


# The answer shows the party a caller reaches, which is what the order pages
# show: the same permission. Staff without it get a 403, not the number.
@permission_required("orders.view_order", raise_exception=True)
def call_simulator(request: HttpRequest) -> HttpResponse:
    data = request.GET or None
    if data is not None and "order" in data and "caller" not in data:
        data = _initial_for_order(request)
    form = CallSimulatorForm(data)
    answer_xml = explanation = None
    plan: list[tuple[str, str]] = []
    if form.is_valid():
        cleaned = form.cleaned_data
        route, answer = calls.simulate_route(cleaned["caller"], cleaned["proxy_number"], cleaned["digits"])
        answer_xml = _pretty(answer)
        explanation = summary(route, digits=cleaned["digits"])
        plan = call_plan(cleaned["caller"], cleaned["proxy_number"], cleaned["digits"])
    context = {
        **admin.site.each_context(request),
        "title": "Call simulator",
        "form": form,
        "answer_xml": answer_xml,
        "summary": explanation,
        "order_not_found": request.GET.get("order") and data is None,
        "plan": plan,
    }
    return TemplateResponse(request, "admin/call_simulator.html", context)
