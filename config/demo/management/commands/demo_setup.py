"""Create (or reset) the demo's admin user and link it to agent 98765."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from clicktoagent.models import Agent


class Command(BaseCommand):
    help = "Create or reset the demo admin user (admin / DEMO_ADMIN_PASSWORD or 'demo-admin')."

    def handle(self, *args: Any, **options: Any) -> None:
        username = "admin"
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "demo-admin")
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"email": "admin@example.com"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        Agent.objects.filter(agent_id="98765").update(user=user)
        self.stdout.write(f"Admin user: {username} / {password} (works as agent 98765)")
