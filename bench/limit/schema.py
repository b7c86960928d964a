"""The limit app's tables, made with plain SQL (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

SQLITE = """
CREATE TABLE IF NOT EXISTS limit_token (key TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS limit_attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id TEXT NOT NULL, agent_id TEXT NOT NULL, phone_to_call TEXT NOT NULL,
    status TEXT NOT NULL, sid TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '',
    tries INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    dispatched_at TEXT, finished_at TEXT
);
CREATE TABLE IF NOT EXISTS limit_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, received_at TEXT NOT NULL
);
"""

POSTGRES = """
CREATE TABLE IF NOT EXISTS limit_token (key text PRIMARY KEY, user_id integer NOT NULL);
CREATE TABLE IF NOT EXISTS limit_attempt (
    id bigserial PRIMARY KEY,
    queue_id text NOT NULL, agent_id text NOT NULL, phone_to_call text NOT NULL,
    status text NOT NULL, sid text NOT NULL DEFAULT '', result text NOT NULL DEFAULT '',
    tries integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz, finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS limit_event (
    id bigserial PRIMARY KEY, body text NOT NULL, received_at timestamptz NOT NULL
);
"""


def create_sqlite(path: str, token: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SQLITE)
        conn.execute("INSERT OR REPLACE INTO limit_token VALUES (?, 1)", (token,))
        conn.commit()
    finally:
        conn.close()


def create_postgres(url: str, token: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in POSTGRES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO limit_token VALUES (%s, 1) ON CONFLICT (key) DO NOTHING", (token,)
        )


def pending_attempts(conn: Any, count: int) -> list[int]:
    """Insert ``count`` pending attempts on PostgreSQL; their ids."""
    rows = conn.execute(
        "INSERT INTO limit_attempt (queue_id, agent_id, phone_to_call, status) "
        "SELECT '12345', '98765', '3124' || lpad(i::text, 6, '0'), 'pending' "
        "FROM generate_series(1, %s) AS i RETURNING id",
        (count,),
    ).fetchall()
    return [row[0] for row in rows]
