"""Hooks that let other apps take part in order rules without orders importing them."""

from django.dispatch import Signal

# Sent by services.purge_personal_data inside its transaction, before the
# orders themselves are scrubbed, with ``orders`` (a queryset of the closed
# orders being purged) and ``cutoff`` (the datetime before which they closed).
# A receiver scrubs the personal data its app keeps about those orders and
# returns {"<what>": count} for the command's summary.
purging_personal_data = Signal()
