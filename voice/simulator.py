"""The admin's call simulator: the seed tutorial's "check the XML in your
browser", without opening the signed webhook to anyone."""

from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from lxml import etree

from . import calls


class CallSimulatorForm(forms.Form):
    caller = forms.CharField(label="From (caller)", max_length=64, help_text="As Plivo sends it, e.g. 14156667777.")
    proxy_number = forms.CharField(label="To (proxy number)", max_length=64)
    digits = forms.RegexField(
        label="PIN typed", regex=r"^\d{1,8}$", required=False, help_text="Leave empty for the answer webhook."
    )


def _pretty(answer: str) -> str:
    # One line is what Plivo gets; staff read it indented.
    return etree.tostring(etree.fromstring(answer.encode()), pretty_print=True, encoding="unicode")


# The answer shows the party a caller reaches, which is what the order pages
# show: the same permission. Staff without it get a 403, not the number.
@permission_required("orders.view_order", raise_exception=True)
def call_simulator(request: HttpRequest) -> HttpResponse:
    form = CallSimulatorForm(request.GET or None)
    answer_xml = None
    if form.is_valid():
        data = form.cleaned_data
        answer_xml = _pretty(calls.simulate(data["caller"], data["proxy_number"], data["digits"]))
    context = {
        **admin.site.each_context(request),
        "title": "Call simulator",
        "form": form,
        "answer_xml": answer_xml,
    }
    return TemplateResponse(request, "admin/call_simulator.html", context)
