"""Which Tasks framework the app uses: Django's own ``django.tasks`` (Django 6.0 and
later) or the ``django-tasks`` backport (Django 5.2). The only module that knows.

Import ``task`` and ``task_backends`` from here. The backend paths are for settings
(``TASKS``); reading them imports neither framework, so ``settings.py`` may use them.

The RQ backend (django-tasks-rq) is the same on every version: it is built on the
backport's base classes, and on Django 6.x ``django.tasks`` takes its task class from
the configured backend, so tasks declared here run on RQ workers either way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import django

#: True on Django 6.0 and later, whose Tasks framework is built in.
BUILTIN = django.VERSION >= (6, 0)

_FRAMEWORK = "django.tasks" if BUILTIN else "django_tasks"

#: Apps the framework needs in ``INSTALLED_APPS`` (the backport is an app; Django's is not).
APPS: list[str] = [] if BUILTIN else ["django_tasks"]

#: Runs a task inside the call that enqueues it (the default: the call is placed in the request).
IMMEDIATE_BACKEND = f"{_FRAMEWORK}.backends.immediate.ImmediateBackend"
#: Stores enqueued tasks without running them (tests).
DUMMY_BACKEND = f"{_FRAMEWORK}.backends.dummy.DummyBackend"
#: RQ on Redis (the ``rq`` extra); workers need ``RQ_JOB_CLASS``.
RQ_BACKEND = "django_tasks_rq.RQBackend"
#: RQ job class that calls the task: ``RQ = {"JOB_CLASS": RQ_JOB_CLASS}``.
RQ_JOB_CLASS = "django_tasks_rq.backend.Job"

if TYPE_CHECKING:
    # Both frameworks have the same API; type-check against Django's own.
    from django.tasks import task as task
    from django.tasks import task_backends as task_backends


def __getattr__(name: str) -> Any:
    # Imported on first use, not with this module, so that settings can read the paths.
    if name not in ("task", "task_backends"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if BUILTIN:
        import django.tasks as framework
    else:
        import django_tasks as framework  # type: ignore[no-redef]
    return getattr(framework, name)


def runs_immediately(alias: str) -> bool:
    """Whether the backend ``alias`` runs a task inside the call that enqueues it (the
    immediate backend, or a subclass), so the caller may as well run the work itself."""
    module, _, name = IMMEDIATE_BACKEND.rpartition(".")
    immediate = getattr(importlib.import_module(module), name)
    return isinstance(__getattr__("task_backends")[alias], immediate)
