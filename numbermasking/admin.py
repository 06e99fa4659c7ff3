"""Admin plumbing both apps share."""


class ReadOnlyMixin:
    """For records of what happened (events, attempts, call and message records): nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
