"""Fixtures for the REST API tests: users with permissions, token clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clicktoagent import taskcompat

API = "/clicktoagent/api"
CALL = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "(312) 555-0123"}
ALL_PERMISSIONS = [
    "clicktoagent.place_call",
    "clicktoagent.view_callattempt",
    "clicktoagent.add_agent",
    "clicktoagent.change_agent",
    "clicktoagent.view_agent",
    "clicktoagent.add_queue",
    "clicktoagent.change_queue",
    "clicktoagent.view_queue",
    "clicktoagent.view_donotcallentry",
    "clicktoagent.add_donotcallentry",
    "clicktoagent.delete_donotcallentry",
]


@pytest.fixture(autouse=True)
def _clear_throttle_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = iter(range(1, 1000))

    def make(*perms: str, username: str = "") -> User:
        user = User.objects.create_user(username or f"api-user-{next(counter)}", password="x")
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


def token_client(user: User) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def caller(make_user: Callable[..., User]) -> User:
    """A user who may place calls and read attempts."""
    return make_user("clicktoagent.place_call", username="caller")


@pytest.fixture
def api(caller: User) -> APIClient:
    return token_client(caller)


@pytest.fixture
def admin_api(make_user: Callable[..., User]) -> APIClient:
    return token_client(make_user(*ALL_PERMISSIONS, username="manager"))


@pytest.fixture
def queued_dispatch(settings: Any) -> None:
    """Dispatch is queued and never runs: attempts stay pending."""
    settings.TASKS = {"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}
