import secrets

from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from orders.models import Line, Order, Role


class CallRecord(models.Model):
    """One Plivo call through a proxy number, keyed on Plivo's CallUUID.

    Created by the answer webhook, completed by dial-status and hangup; a
    retried webhook updates the same row instead of adding one.
    """

    class Outcome(models.TextChoices):
        CONNECTED = "connected"
        PIN_PROMPTED = "pin_prompted", "PIN prompted"
        UNKNOWN = "unknown"
        REJECTED = "rejected"
        # Abuse controls: the caller's number is blocked, or over the hourly limit.
        BLOCKED = "blocked"
        LIMITED = "limit_reached", "limit reached"
        # A platform-started call whose first party never answered: nobody else was dialled.
        NOT_ANSWERED = "not_answered", "not answered"

    class Initiator(models.TextChoices):
        CALLER = "caller", "the caller"
        PLATFORM = "platform", "the platform (click-to-call)"

    call_uuid = models.CharField("call UUID", max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    # The line the call went over, when it reached one.
    line = models.ForeignKey(Line, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    # For a platform-started call the "caller" is the party rung first.
    caller_role = models.CharField(max_length=16, choices=Role.choices, default=Role.UNKNOWN)
    initiated_by = models.CharField(max_length=16, choices=Initiator.choices, default=Initiator.CALLER)
    from_number = models.CharField(max_length=64, blank=True)
    proxy_number = models.CharField(max_length=64, blank=True)
    dialled_number = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.UNKNOWN)
    # The PIN webhook overwrites "pin_prompted" with "connected" on a right
    # PIN, so the prompt is remembered here, for the dashboard's PIN-prompt rate.
    asked_pin = models.BooleanField("asked for a PIN", default=False)
    dial_status = models.CharField(max_length=32, blank=True)
    hangup_cause = models.CharField(max_length=64, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    bill_duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Result(models.TextChoices):
        """What the call did, in one word a dispatcher reads (``result``); not stored, derived."""

        TALKED = "talked", "talked"
        NO_ANSWER = "no_answer", "no answer"
        BUSY = "busy", "busy"
        FAILED = "failed", "failed"
        PIN_REFUSED = "pin_refused", "PIN refused"
        UNKNOWN_CALLER = "unknown_caller", "unknown caller"
        BLOCKED = "blocked", "blocked"
        LIMIT_REACHED = "limit_reached", "limit reached"
        ENDED_EARLY = "ended_before_connecting", "ended before connecting"
        IN_PROGRESS = "in_progress", "in progress"

    class Meta:
        ordering = ["-started_at"]
        # The dashboard reads the last days of calls as a range scan (voice/ops/dashboard.py).
        indexes = [models.Index(fields=["started_at"], name="callrecord_started_at")]

    def __str__(self) -> str:
        return self.call_uuid

    @property
    def result(self) -> "CallRecord.Result":
        """One plain result from the routing outcome and Plivo's dial status.

        ``outcome`` says where the answer webhook sent the call ("connected"
        means the other party's phone was dialled, not that anyone answered);
        the Dial action's DialStatus says what happened then (docs/plivo.md).
        """
        Result = CallRecord.Result
        if self.outcome == self.Outcome.UNKNOWN:
            return Result.UNKNOWN_CALLER
        if self.outcome == self.Outcome.REJECTED:
            return Result.PIN_REFUSED
        if self.outcome == self.Outcome.BLOCKED:
            return Result.BLOCKED
        if self.outcome == self.Outcome.LIMITED:
            return Result.LIMIT_REACHED
        if self.dial_status:
            return RESULT_BY_DIAL_STATUS.get(self.dial_status, Result.FAILED)
        # No dial status: the caller hung up at the PIN prompt or before the
        # other phone was dialled; without a hangup either, the call is still on.
        return Result.ENDED_EARLY if self.ended_at is not None else Result.IN_PROGRESS

    @classmethod
    def result_expression(cls) -> Case:
        """``result`` in SQL, for grouping calls in the database (tests/voice/test_dashboard.py checks they agree)."""
        Result = cls.Result
        return Case(
            When(outcome=cls.Outcome.UNKNOWN, then=Value(Result.UNKNOWN_CALLER.value)),
            When(outcome=cls.Outcome.REJECTED, then=Value(Result.PIN_REFUSED.value)),
            When(outcome=cls.Outcome.BLOCKED, then=Value(Result.BLOCKED.value)),
            When(outcome=cls.Outcome.LIMITED, then=Value(Result.LIMIT_REACHED.value)),
            *[When(dial_status=status, then=Value(result.value)) for status, result in RESULT_BY_DIAL_STATUS.items()],
            When(~Q(dial_status=""), then=Value(Result.FAILED.value)),
            When(ended_at__isnull=False, then=Value(Result.ENDED_EARLY.value)),
            default=Value(Result.IN_PROGRESS.value),
            output_field=models.CharField(),
        )

    @property
    def result_label(self) -> str:
        """``result`` as a dispatcher reads it: "talked 0:55", "no answer"."""
        result = self.result
        if result == self.Result.TALKED and self.duration is not None:
            return f"talked {_minutes(self.duration)}"
        return result.label


# What Plivo's DialStatus says happened to a dialled call; any other status is a failure.
RESULT_BY_DIAL_STATUS = {
    "completed": CallRecord.Result.TALKED,
    "no-answer": CallRecord.Result.NO_ANSWER,
    "timeout": CallRecord.Result.NO_ANSWER,
    "busy": CallRecord.Result.BUSY,
    "failed": CallRecord.Result.FAILED,
    # The caller hung up while the other phone rang.
    "cancel": CallRecord.Result.ENDED_EARLY,
}


def _minutes(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class MessageRecord(models.Model):
    """One text message to a proxy number, keyed on Plivo's MessageUUID.

    The text itself is never stored: it is private between the parties and
    only passes through in the webhook's answer.
    """

    class Outcome(models.TextChoices):
        RELAYED = "relayed"
        PIN_PROMPTED = "pin_prompted", "PIN prompted"
        UNKNOWN = "unknown"
        EMPTY = "empty", "Nothing to relay"
        BLOCKED = "blocked"

    message_uuid = models.CharField("message UUID", max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    line = models.ForeignKey(Line, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    sender_role = models.CharField(max_length=16, choices=Role.choices, default=Role.UNKNOWN)
    from_number = models.CharField(max_length=64, blank=True)
    proxy_number = models.CharField(max_length=64, blank=True)
    relayed_to = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.UNKNOWN)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        # The dashboard counts the last days' texts as a range scan (voice/ops/dashboard.py).
        indexes = [models.Index(fields=["received_at"], name="messagerecord_received_at")]

    def __str__(self) -> str:
        return self.message_uuid


def new_call_request_id() -> str:
    """The API's id of a click-to-call request: ``ctc_`` and 24 random hex digits."""
    return "ctc_" + secrets.token_hex(12)


class ClickToCall(models.Model):
    """A click-to-call request (``POST /api/v1/orders/{reference}/call/``, the admin's buttons): a reservation.

    Stored first, before Plivo is asked anything, so every request counts
    towards MASKING_CLICK_TO_CALL_PER_MINUTE and MASKING_CLICK_TO_CALL_PER_HOUR
    whatever Plivo answers later; the task voice.tasks.place_call then asks
    Plivo and moves it on (voice/click_to_call.py). The call itself is logged
    as a CallRecord, keyed on the CallUUID Plivo gives it later.
    """

    class State(models.TextChoices):
        QUEUED = "queued"  # reserved; the task will ask Plivo (again, after a failure)
        PLACING = "placing"  # the task is asking Plivo right now
        PLACED = "placed"  # Plivo accepted: it rings the first party
        REFUSED = "refused"  # Plivo said no; not retried
        FAILED = "failed"  # Plivo unavailable after the last retry
        CANCELLED = "cancelled"  # no longer callable when the task ran (line closed, agent, block list)

    class Reason(models.TextChoices):
        PLIVO_REFUSED = "plivo_refused", "Plivo refused"
        PLIVO_UNAVAILABLE = "plivo_unavailable", "Plivo unavailable"
        LINE_NOT_LIVE = "line_not_live", "line not live"
        NO_AGENT = "no_agent", "no agent"
        BLOCKED = "blocked"
        PARTY_NOT_CALLABLE = "party_not_callable", "party not callable"

    public_id = models.CharField("id", max_length=28, unique=True, default=new_call_request_id, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="click_to_calls")
    first_role = models.CharField("called first", max_length=16, choices=Role.choices)
    # The party dialled once the first answers; "" on requests made before lines had kinds (the counterpart).
    to_role = models.CharField("then dialled", max_length=16, choices=Role.choices, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    # One sentence for staff (Plivo's reason for a refusal), with any phone number hidden.
    detail = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Requests made to Plivo's Call API.")
    # Plivo's, once it accepted the call.
    request_uuid = models.CharField("request UUID", max_length=64, unique=True, null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    placed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["order", "requested_at"]),
            # The service-wide budget counts the last hour's requests.
            models.Index(fields=["requested_at"], name="clicktocall_requested_at"),
        ]
        verbose_name = "click-to-call request"

    def __str__(self) -> str:
        return self.public_id

    @property
    def callee_role(self) -> Role:
        """The party dialled once the first answers (the counterpart on requests from before ``to_role``)."""
        return Role(self.to_role) if self.to_role else Role(self.first_role).counterpart()


class WebhookNonce(models.Model):
    """A signature nonce already accepted on a URL where a request must not work twice.

    Plivo's signatures carry no timestamp, so a captured request stays valid
    forever; a unique key shared by every worker and host is what makes a
    nonce single-use (voice/plivo/replays.py). Stored hashed: fixed length, and
    nothing in it is worth reading.
    """

    digest = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.digest


class Recording(models.Model):
    """A voicemail or a recorded call, kept at Plivo; keyed on Plivo's RecordingID.

    Only the id, the media URL and the duration are kept here. ``deleted_at``
    is set once Plivo confirmed the media is gone (retention), and the URL is
    cleared then, never before.
    """

    class Kind(models.TextChoices):
        VOICEMAIL = "voicemail"
        CALL = "call", "Recorded call"

    recording_id = models.CharField("recording ID", max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    call = models.ForeignKey(CallRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="recordings")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="recordings")
    url = models.CharField("URL", max_length=500, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When Plivo confirmed the media deleted.")

    class Meta:
        ordering = ["-created_at"]
        # Staff see that a recording exists; only this permission plays it.
        permissions = [("listen_recording", "Can listen to recordings")]

    def __str__(self) -> str:
        return self.recording_id
