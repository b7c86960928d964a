"""The call attempts table keeps the indexes its lookups use, and no more: every claim
and every answer changes ``status`` (the answer also ``sid``), and such an update writes
an entry in every index of the table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clicktoagent.models import CallAttempt, DoNotCallEntry
from clicktoagent.policy.records import Records

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

Status = CallAttempt.Status


def _indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            ["clicktoagent_callattempt"],
        )
        return dict(cursor.fetchall())


def test_no_pattern_index_and_no_index_that_another_one_covers() -> None:
    indexes = _indexes()
    assert not [name for name, text in indexes.items() if "pattern_ops" in text], indexes
    single_status = [
        name for name, text in indexes.items() if text.endswith("USING btree (status)")
    ]
    assert single_status == []  # (status, created_at) serves every lookup by status
    assert "clicktoagent_status_created" in indexes
    assert len(indexes) == 14, sorted(indexes)  # 18 before migration 0005


def test_the_lookups_of_the_app_use_an_index(demo_data) -> None:
    now = timezone.now()
    sales, dana = demo_data["sales"], demo_data["dana"]
    CallAttempt.objects.bulk_create(
        CallAttempt(
            queue=sales,
            agent=dana,
            phone_to_call=f"+1312{i:07d}",
            record=0,
            warning=0,
            status=Status.PLACED,
            sid=f"sid{i:08d}",
            contact_ref=f"hubspot:contact:{i}",
            source=CallAttempt.Source.API,
        )
        for i in range(20_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clicktoagent_callattempt")
    lookups = {
        # The API's contact_ref filter.
        "clicktoagent_contact_ref": CallAttempt.objects.filter(contact_ref="hubspot:contact:7"),
        "clicktoagent_sid": CallAttempt.objects.filter(sid="sid00000007"),
        # Health (the oldest pending) and the reconciler (lost workers).
        "clicktoagent_status_created": CallAttempt.objects.filter(status=Status.PENDING).order_by(
            "created_at"
        )[:1],
    }
    for index, queryset in lookups.items():
        plan = queryset.explain()
        assert f"using {index}" in plan.lower().replace('"', ""), (index, plan)
    lost = (
        CallAttempt.objects.filter(
            status=Status.DISPATCHING, dispatched_at__lte=now - timedelta(minutes=5)
        )
        .order_by("pk")[:100]
        .explain()
    )
    assert "Seq Scan" not in lost, lost
    # The safe-calling rules' statements, run as every checked call runs them.
    DoNotCallEntry.objects.bulk_create(
        DoNotCallEntry(phone_number=f"+1305{i:07d}") for i in range(20_000)
    )
    with connection.cursor() as cursor:
        # Attempts over two months, as a table in use holds them.
        cursor.execute(
            "UPDATE clicktoagent_callattempt SET created_at = %s - (id %% 60) * interval '1 day'",
            [now],
        )
        cursor.execute("ANALYZE clicktoagent_callattempt")
        cursor.execute("ANALYZE clicktoagent_donotcallentry")
    with CaptureQueriesContext(connection) as queries:
        assert Records().listed("+13050000007") == ""
        assert len(Records().recent(["+13120000007", "3120000007"], now)) == 0
    listed, recent = (query["sql"] for query in queries.captured_queries)
    for sql, index in (
        (listed, "clicktoagent_donotcallentry_phone_number"),
        (recent, "clicktoagent_number_recent"),
    ):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        assert f"using {index}" in plan.lower().replace('"', ""), (sql, plan)
        assert "Seq Scan" not in plan, plan
