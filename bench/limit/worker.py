"""The limit worker: a plain loop on Redis, PostgreSQL and one requests.Session.

    python bench/limit/worker.py DATABASE_URL REDIS_URL DIALOGTECH_URL

Pops attempt ids from the Redis list ``limit:attempts``; per id: claim (one conditional
UPDATE ... RETURNING), one GET to DialogTech on the kept session, the XML parsed with
lxml, one UPDATE with the outcome. SIGTERM: finish the current attempt, then stop.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import psycopg
import redis
import requests

from bench.limit.dialtech import place_call

_stop = [False]


def _request_stop(signum: int, frame: Any) -> None:
    _stop[0] = True


def main() -> None:
    database_url, redis_url, base_url = sys.argv[1:4]
    signal.signal(signal.SIGTERM, _request_stop)
    conn = psycopg.connect(database_url, autocommit=True)
    queue = redis.Redis.from_url(redis_url)
    session = requests.Session()
    session.trust_env = False
    credentials = {
        "access_key": os.environ["DIALOGTECH_ACCESS_KEY"],
        "secret_access_key": os.environ["DIALOGTECH_SECRET_ACCESS_KEY"],
    }
    while not _stop[0]:
        item = queue.brpop(["limit:attempts"], timeout=1)
        if item is None:
            continue
        attempt_id = int(item[1])
        row = conn.execute(
            "UPDATE limit_attempt SET status = 'dispatching', tries = tries + 1, "
            "dispatched_at = now() WHERE id = %s AND status = 'pending' "
            "RETURNING queue_id, agent_id, phone_to_call",
            (attempt_id,),
        ).fetchone()
        if row is None:
            continue
        queue_id, agent_id, phone = row
        status, sid, result = place_call(
            session, base_url, credentials, queue_id=queue_id, agent_id=agent_id, phone=phone
        )
        conn.execute(
            "UPDATE limit_attempt SET status = %s, sid = %s, result = %s, finished_at = now() "
            "WHERE id = %s",
            (status, sid, result, attempt_id),
        )
    conn.close()


if __name__ == "__main__":
    main()
