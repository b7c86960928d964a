"""The dispatch queue on Redis (``CLICKTOAGENT["DISPATCH_QUEUE"]``): ids of attempts
waiting for a dispatcher (``dispatcher.py``, ``manage.py clicktoagent_dispatcher``).

Two keys per ``TASK_QUEUE_NAME``: a list of the ids due now (pushed on the left, popped
on the right: first in, first out) and a sorted set of deferred ids scored by their due
time. A pop first moves the deferred ids that are due onto the list, in one script.

An id is only a hint. A dispatcher sends an attempt only once it has claimed it in the
database (``pending`` -> ``dispatching``, one conditional UPDATE), so an id pushed twice,
or by anyone who can write to this Redis, dials nothing that is not already a
``pending`` attempt, and that at most once. An id lost (Redis restarted without
persistence, a dispatcher killed between its pop and its claim) leaves the attempt
``pending``: ``clicktoagent_reconcile`` queues it again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from ..conf import app_settings

logger = logging.getLogger("clicktoagent")

KEY = "clicktoagent:dispatch:{queue}:{part}"
# Deferred ids moved onto the list by one pop, at most (the next pops move the rest).
MOVE_AT_MOST = 100
# Longest id accepted from the list: a bigint's digits.
ID_DIGITS = 19

# Moves the due deferred ids (KEYS[2], score <= ARGV[1]) onto the list (KEYS[1]), then
# pops the oldest id of the list: one round trip, and no id moved twice.
_POP = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then
  redis.call('ZREM', KEYS[2], unpack(due))
  redis.call('LPUSH', KEYS[1], unpack(due))
end
return redis.call('RPOP', KEYS[1])
"""

_lock = threading.Lock()
_clients: dict[str, tuple[Any, Any]] = {}


def dispatch_queue_on() -> bool:
    """Whether attempts wait on the Redis dispatch queue instead of the task backend."""
    return bool(app_settings.DISPATCH_QUEUE)


def _keys() -> tuple[str, str]:
    queue = app_settings.TASK_QUEUE_NAME
    return KEY.format(queue=queue, part="ready"), KEY.format(queue=queue, part="deferred")


def _client() -> tuple[Any, Any]:
    """The Redis client of ``DISPATCH_QUEUE`` and its pop script, one per URL and process
    (the client is thread-safe and keeps its connections)."""
    url = str(app_settings.DISPATCH_QUEUE)
    found = _clients.get(url)
    if found is None:
        import redis

        with _lock:
            found = _clients.get(url)
            if found is None:
                # The socket timeout is longer than the longest blocking pop.
                client = redis.Redis.from_url(
                    url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
                )
                found = _clients[url] = (client, client.register_script(_POP))
    return found


def dispatch_queue_push(attempt_id: int, *, run_after: datetime | None = None) -> None:
    """Queue ``attempt_id``: due now, or at ``run_after``. Raises when Redis cannot be
    reached (the caller leaves the attempt to the reconciler)."""
    ready, deferred = _keys()
    client, _ = _client()
    if run_after is not None and run_after.timestamp() > time.time():
        client.zadd(deferred, {str(attempt_id): run_after.timestamp()})
    else:
        client.lpush(ready, attempt_id)


def dispatch_queue_pop(*, block: float = 0.0) -> int | None:
    """The next id due, moving due deferred ids over first; waits up to ``block`` seconds
    for one (0: not at all). None when there is none. An entry that is not an id is
    dropped with a warning."""
    ready, deferred = _keys()
    client, pop = _client()
    while True:
        value = pop(keys=[ready, deferred], args=[time.time(), MOVE_AT_MOST])
        if value is None and block > 0:
            item = client.brpop([ready], timeout=block)
            value = item[1] if item is not None else None
        if value is None:
            return None
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        if text.isdigit() and len(text) <= ID_DIGITS:
            return int(text)
        logger.warning(
            "the dispatch queue held an entry that is not an attempt id (%d characters); "
            "it was dropped",
            len(text),
        )


def dispatch_queue_depth() -> dict[str, int]:
    """How many ids are due now (``queued``) and how many are deferred."""
    ready, deferred = _keys()
    client, _ = _client()
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(ready)
        pipe.zcard(deferred)
        queued, waiting = pipe.execute()
    return {"queued": int(queued), "deferred": int(waiting)}
