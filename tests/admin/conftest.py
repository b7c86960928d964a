"""Users, contacts and helpers for the admin tests."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from config.demo.models import Contact


def _user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw-for-tests-only", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # drop the permission cache


CONTACT_PERMS = ("demo.view_contact", "demo.change_contact")
ATTEMPT_PERMS = ("clicktoagent.view_callattempt",)


@pytest.fixture
def caller(demo_data: dict[str, Any]) -> User:
    """Staff who may place calls and works as agent 98765 (Dana, queue Sales); may also
    retry and cancel attempts others requested (e.g. those the command made)."""
    user = _user(
        "caller",
        *CONTACT_PERMS,
        *ATTEMPT_PERMS,
        "clicktoagent.place_call",
        "clicktoagent.change_callattempt",
    )
    demo_data["dana"].user = user
    demo_data["dana"].save()
    return user


@pytest.fixture
def viewer(demo_data: dict[str, Any]) -> User:
    """Staff who can see contacts and attempts but may not place calls."""
    return _user("viewer", *CONTACT_PERMS, *ATTEMPT_PERMS)


@pytest.fixture
def caller_client(caller: User) -> Client:
    client = Client()
    client.force_login(caller)
    return client


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def contacts(db: None) -> dict[str, Contact]:
    return {
        "ada": Contact.objects.create(name="Ada Lovelace", phone="(312) 555-0123"),
        "grace": Contact.objects.create(name="Grace Hopper", phone="312.555.0124"),
        "barbara": Contact.objects.create(name="Barbara Liskov", phone=""),
        "bad": Contact.objects.create(name="Bad Number", phone="12"),
    }


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the call form (ids and the one-time token)."""
    return {
        name: value
        for name, value in re.findall(
            r'<input type="hidden" name="(ids|token)" value="([^"]*)"', html
        )
    }
