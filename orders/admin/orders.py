"""The admin's order pages: the dispatchers' list, the order form, and the buttons that change an order."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from .. import services
from ..models import PARTIES, Line, Order, Role
from ..phones import display
from ..routing import parties_asked_for_pin
from .filters import LineLiveFilter, NeedsAgentFilter, ProxyNumberFilter


def local_time(value) -> str:
    """A time as the admin shows it, in TIME_ZONE with the zone named."""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def short_time(value) -> str:
    """A time in a narrow list column ("Dec 7, 16:05"), in TIME_ZONE; the column's header names the zone."""
    return formats.date_format(timezone.localtime(value), "M j, H:i")


def line_state(order: Order, line: Line) -> str:
    """Whether a line is live and until when, or when it closed, in TIME_ZONE."""
    if line.expires_at is None:
        return "not opened yet"
    closes = local_time(line.expires_at)
    if not line.is_live:
        return f"closed at {closes}"
    if order.status == Order.Status.DELIVERED:
        return f"live for the grace period after delivery, until {closes}"
    return f"live until {closes}"


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["reference", "customer_name", "customer_phone", "agent", "store_name", "store_phone"]
        help_texts = {
            "store_phone": "Optional. With a store phone, the agent and the store reach each other over a "
            "store–agent line of its own, opened with the customer's line (or at once, on an order whose line "
            "is open). Empty: the store's lines close.",
            "reference": "Left empty, one is generated (8 characters, without 0/O or 1/I). It cannot be "
            "changed once saved.",
        }
        error_messages = {"reference": {"unique": "Another order already has this reference."}}

    def clean(self) -> dict:
        cleaned = super().clean()
        agent = cleaned.get("agent")
        if "agent" in self.changed_data:
            if agent is None:
                self.add_error("agent", "An assigned order keeps its agent; cancel the order to close its line.")
            else:
                try:
                    services.validate_assignment(self.instance, agent)
                except ValidationError as error:
                    self.add_error("agent", error)
        return cleaned


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered list from Postgres's table statistics instead of a COUNT(*) of every row.

    As healthchecks does for its pings: autovacuum's ANALYZE keeps
    pg_class.reltuples close enough for "page 1 of 10,000". Small tables,
    filtered or searched lists and other databases get the exact count.
    """

    estimate_from = 10_000

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        database = connections[self.object_list.db]
        if not query.where and database.vendor == "postgresql":
            with database.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [query.model._meta.db_table]
                )
                estimate = cursor.fetchone()[0]
            if estimate >= self.estimate_from:  # -1 before the first ANALYZE
                return estimate
        return super().count


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderForm
    # No COUNT(*) of the whole table on every page view (see EstimatedCountPaginator).
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # "line live" beside the status: with the nav sidebar and the filters, a
    # 1280 px screen cut off the table's right end, where it used to be.
    # At 1280 px, beside the menu and the filters, the table has about 600 px: the proxy number without its
    # label and a short creation time keep every column on screen (the full time is on the order's page).
    list_display = ["reference", "customer", "status", "line_live", "agent", "proxy", "created"]
    list_filter = ["status", LineLiveFilter, NeedsAgentFilter, ("lines__proxy_number", ProxyNumberFilter)]
    search_fields = ["reference", "customer_name", "customer_phone", "agent__name", "agent__phone"]
    list_select_related = ["agent"]
    autocomplete_fields = ["agent"]
    readonly_fields = [
        "status",
        "proxy_number",
        "pin",
        "masking_expires_at",
        "line_live",
        "line_state",
        "customer_app",
        "pin_prompts",
        "lines_table",
        "party_apps",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "customer_name", "customer_phone", "agent", "status"]}),
        (
            "Store",
            {
                "fields": ["store_name", "store_phone"],
                "description": "The restaurant or shop the agent collects from, if any. It is never given the "
                "customer's or the agent's phone: it calls them over lines of its own.",
            },
        ),
        (
            "Masking",
            {
                "fields": ["customer_app", "line_state", "pin_prompts", "proxy_number", "pin", "masking_expires_at"],
                "description": "Assigning an agent opens the line. Customer and agent both call the proxy number; "
                "callers with several live orders on it are asked for the PIN.",
            },
        ),
        (
            "Lines",
            {
                "fields": ["lines_table", "party_apps"],
                "description": "Every masked line of the order: each joins two parties and has its own proxy "
                "number and PIN. The customer–agent line is the one above.",
            },
        ),
        # Not "History": the page's "History" button is the change log.
        ("Created and updated", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    actions = ["mark_picked_up", "mark_delivered", "cancel"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The lines (and their numbers) in one more query per page, not one per order.
        return super().get_queryset(request).prefetch_related("lines__proxy_number")

    # The customer–agent line's fields, shown where the order's own used to be.
    @admin.display(description="proxy number")
    def proxy_number(self, obj: Order) -> object:
        line = obj.masking
        return line.proxy_number if line is not None else None

    @admin.display(description="PIN")
    def pin(self, obj: Order) -> str:
        line = obj.masking
        return line.pin if line is not None else ""

    @admin.display(description="masking expires at")
    def masking_expires_at(self, obj: Order) -> object:
        line = obj.masking
        return line.expires_at if line is not None else None

    # A new order has no line yet: nothing to say about PINs, numbers or calls until one opens.
    ADD_FIELDSETS = (None, "Store")

    def get_fieldsets(self, request: HttpRequest, obj: Order | None = None):
        if obj is not None:
            return self.fieldsets
        return [(name, options) for name, options in self.fieldsets if name in self.ADD_FIELDSETS]

    @admin.display(description="customer", ordering="customer_name")
    def customer(self, obj: Order) -> str:
        return obj.customer_name

    @admin.display(description="proxy number")
    def proxy(self, obj: Order) -> str | None:
        # The customer–agent line's number: the one the customer dials.
        line = obj.masking
        return str(line.proxy_number.number) if line is not None else None

    @admin.display(description=f"created ({settings.TIME_ZONE})", ordering="created_at")
    def created(self, obj: Order) -> str:
        return short_time(obj.created_at)

    @admin.display(description="line live", boolean=True)
    def line_live(self, obj: Order) -> bool:
        return obj.is_line_live

    @admin.display(description="customer's app shows")
    def customer_app(self, obj: Order) -> str:
        return obj.dial_instructions or "nothing: the order has no live line"

    @admin.display(description="line")
    def line_state(self, obj: Order) -> str:
        line = obj.masking if obj.pk else None
        if line is None or line.expires_at is None:
            return "not opened yet: assign an agent to open it"
        return line_state(obj, line)

    @admin.display(description="lines")
    def lines_table(self, obj: Order) -> str:
        lines = list(obj.lines.all()) if obj.pk else []
        if not lines:
            return "none yet: assigning an agent opens them"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    line.get_kind_display(),
                    display(line.proxy_number.number),
                    line.pin,
                    line_state(obj, line),
                )
                for line in lines
            ),
        )
        return format_html(
            '<table class="order-lines"><thead><tr><th scope="col">line</th><th scope="col">proxy number</th>'
            '<th scope="col">PIN</th><th scope="col">state</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="each party's app shows")
    def party_apps(self, obj: Order) -> str:
        shown = obj.party_instructions if obj.pk else {}
        if not shown:
            return "nothing: the order has no live line"
        # The model's own words per party (tested with the lines), in the API's order of parties.
        return format_html_join(
            "",
            "<p>The {}'s app: {}</p>",
            ((role.value, "; ".join(shown[role.value])) for role in PARTIES if role.value in shown),
        )

    @admin.display(description="PIN asked")
    def pin_prompts(self, obj: Order) -> str:
        if obj.pk is None or obj.masking is None:
            return "not yet: no line is open"
        asked = parties_asked_for_pin(obj)
        if not asked:
            return "no: calls go straight through"
        who = " and ".join("the customer" if role == Role.CUSTOMER else "the agent" for role in asked)
        return (
            f"yes: {who} also has another live order on this number, so callers are asked for the PIN "
            f"{self.pin(obj)}. Add proxy numbers to avoid it."
        )

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "agent" and formfield is not None:
            # Deleting an agent from an order's form is never what a dispatcher
            # means (and orders protect their agent): no delete icon by the
            # autocomplete.
            formfield.widget.can_delete_related = False
        return formfield

    # Buttons on the order page for the same transitions as the list's actions:
    # (URL slug, button label, service, what the message says, statuses it starts from).
    TRANSITIONS = [
        ("picked-up", "Mark picked up", services.mark_picked_up, "marked picked up", services.PICK_UP_FROM),
        ("delivered", "Mark delivered", services.mark_delivered, "marked delivered", services.DELIVER_FROM),
        ("cancel", "Cancel order", services.cancel_order, "cancelled", services.CANCEL_FROM),
    ]

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/transition/<slug:transition>/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            ),
            path(
                "<path:object_id>/close-store-line/",
                self.admin_site.admin_view(self.close_store_line_view),
                name="orders_order_close_store_line",
            ),
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        transitions, close_store_line = [], None
        if order is not None and self.has_change_permission(request, order):
            transitions = [
                {"label": label, "url": reverse("admin:orders_order_transition", args=[order.pk, slug])}
                for slug, label, _service, _done, starts_from in self.TRANSITIONS
                if order.status in starts_from
            ]
            if any(Role.STORE in line.parties for line in order.live_lines):
                close_store_line = reverse("admin:orders_order_close_store_line", args=[order.pk])
        context = {"order_transitions": transitions, "order_close_store_line": close_store_line}
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **context})

    def order_for_button(self, request: HttpRequest, object_id: str) -> "Order | HttpResponse":
        """The order an order page's button acts on, or the answer when it may not: POST only, change permission."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def transition_view(self, request: HttpRequest, object_id: str, transition: str) -> HttpResponse:
        order = self.order_for_button(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        by_slug = {slug: (service, done) for slug, _label, service, done, _starts in self.TRANSITIONS}
        if transition not in by_slug:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        service, done = by_slug[transition]
        try:
            order = service(order)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.log_change(request, order, f"Order {done}.")
            self.message_user(request, self.transition_message(order, done), messages.SUCCESS)
        return redirect("admin:orders_order_change", order.pk)

    def close_store_line_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Close the store's lines now: picked up from the store, no more calls needed (the API's close-store-line)."""
        order = self.order_for_button(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        try:
            order = services.close_store_line(order)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.log_change(request, order, "Store line closed: picked up from the store.")
            masking = order.masking
            stays = " The customer–agent line stays open." if masking is not None and masking.is_live else ""
            self.message_user(
                request,
                f"Store line of order {order.reference} closed: picked up from the store, no more calls needed."
                + stays,
                messages.SUCCESS,
            )
        return redirect("admin:orders_order_change", order.pk)

    @staticmethod
    def transition_message(order: Order, done: str) -> str:
        message = f"Order {order.reference} {done}."
        if order.status == Order.Status.DELIVERED and order.is_line_live:
            message += (
                f" Its line stays open until {local_time(order.masking.expires_at)} (the grace period) for "
                "questions about the drop-off."
            )
        elif order.status == Order.Status.CANCELLED:
            message += " Its line is closed."
        return message

    def assignment_messages(self, request: HttpRequest, order: Order) -> None:
        """Tell staff what the assignment means for callers; the service says whether the number is shared."""
        shared = getattr(order, "shared_number", None)
        if order.is_line_live:
            self.message_user(
                request, f"Line open for {order.reference}: the customer's app should show “{order.dial_instructions}”."
            )
        if shared is not None:
            country = shared.country or "the customer's country"
            self.message_user(
                request,
                f"{order.reference} shares proxy number {display(shared.proxy_number)} with another live line of "
                f"its parties, so their callers will be asked for the order PIN ({self.pin(order)}). To avoid "
                f"PIN prompts the pool needs at least {shared.numbers_needed} active numbers in {country}; it has "
                f"{shared.pool_size}. Add numbers under Proxy numbers.",
                messages.WARNING,
            )

    def get_readonly_fields(self, request, obj=None):
        # The reference is what the customer was told; it may be chosen once.
        return [*self.readonly_fields, "reference"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Order, form: OrderForm, change: bool) -> None:
        agent = obj.agent if "agent" in form.changed_data else None
        if change:
            # The lines are opened by the services, not by bare field writes.
            obj.agent_id = form.initial.get("agent")
            store = {field: getattr(obj, field) for field in ("store_name", "store_phone")}
            obj.store_name, obj.store_phone = form.initial.get("store_name", ""), form.initial.get("store_phone", "")
            super().save_model(request, obj, form, change)
            if {"store_name", "store_phone"} & set(form.changed_data):
                self.save_store(request, obj, **store)
        else:
            # Orders are created by the service, as through the API and seed_demo;
            # the form has already refused a reference in use.
            created, _ = services.create_order(
                customer_name=obj.customer_name,
                customer_phone=obj.customer_phone,
                reference=obj.reference,
                store_name=obj.store_name,
                store_phone=str(obj.store_phone or ""),
            )
            obj.pk = created.pk
            obj.refresh_from_db()
        if agent is None:
            return
        try:
            assigned = services.assign_agent(obj, agent)
        except ValidationError as error:
            # The form checked this a moment ago; only a concurrent change gets here.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.assignment_messages(request, assigned)
        obj.refresh_from_db()

    def save_store(self, request: HttpRequest, order: Order, *, store_name: str, store_phone: object) -> None:
        """Save the store through the service, which opens, or closes, the store's lines with the new phone."""
        try:
            services.set_store(order, name=store_name, phone=str(store_phone or ""))
        except ValidationError as error:
            # The form checked this a moment ago; only a concurrent change gets here.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        order.refresh_from_db()
        shown = order.party_instructions.get(Role.STORE.value)
        if shown:
            self.message_user(
                request, f"Store line open for {order.reference}: the store's app should show “{'; '.join(shown)}”."
            )

    def _run(self, request: HttpRequest, queryset: QuerySet, service, done: str) -> None:
        succeeded = 0
        for order in queryset:
            try:
                service(order)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} order(s) {done}.", messages.SUCCESS)

    @admin.action(description="Mark selected orders picked up")
    def mark_picked_up(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.mark_picked_up, "marked picked up")

    @admin.action(description="Mark selected orders delivered (line closes after the grace period)")
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.mark_delivered, "marked delivered")

    @admin.action(description="Cancel selected orders (line closes now)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.cancel_order, "cancelled")
