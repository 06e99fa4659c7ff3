"""The task queue's results (django-tasks-db's admin), for superusers only.

The queue's rows are the worker's internals: a dispatcher reading "Tasks
database backend / Task results" in the menu learns nothing they can act on.
"""

from django.contrib import admin
from django.http import HttpRequest
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: DBTaskResult | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser
