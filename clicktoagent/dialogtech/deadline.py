"""A total deadline for one HTTP request made with requests.

requests (and urllib3 under it) only time each socket operation, so a server that sends
one byte a second holds a request forever. :class:`Deadline` arms a timer for the whole
request (one clock thread serves every timer of the process); when it fires, it shuts
the request's socket down, which ends whatever read or
write is blocked on it (connect, TLS handshake, waiting for the status line, reading the
body). :class:`DeadlineAdapter` mounts connections that report their sockets to the
deadline active in the current thread, and that check it, and the caller's last-moment
``may_send`` check, right before the request is written. :class:`SocketTimer`, the
timer itself, also bounds the webhook callbacks (``webhooks/outbound.py``), whose pinned
connections are mounted the same way (:func:`pool_classes`).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class DeadlinePassedBeforeSending(Exception):
    """The deadline passed before a byte of the request was written."""


class SendRefused(Exception):
    """The caller's ``may_send`` check said no, right before the request was written."""


class _Clock:
    """One thread per process that runs each timer's expiry when it falls due, instead
    of a thread started per request. A timer that is done is cancelled by emptying its
    entry, which the thread then skips."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._ready = threading.Condition()
        self._due: list[list[Any]] = []  # heap of [when, sequence, timer or None]
        self._count = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def add(self, when: float, timer: SocketTimer) -> list[Any]:
        """Call ``timer._expire()`` at ``when`` (``time.monotonic()``); the entry to
        :meth:`cancel`."""
        entry = [when, next(self._count), timer]
        with self._ready:
            heapq.heappush(self._due, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="clicktoagent-deadlines", daemon=True
                )
                self._thread.start()
            elif self._due[0] is entry:
                self._ready.notify()  # earlier than what the thread waits for
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._ready:
            entry[2] = None
            self._cancelled += 1
            if self._cancelled > 1000 and self._cancelled * 2 > len(self._due):
                # Mostly finished requests: keep only the live timers.
                self._due = [e for e in self._due if e[2] is not None]
                heapq.heapify(self._due)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._ready.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, timer = heapq.heappop(self._due)
                if timer is None:
                    self._cancelled -= 1
                    continue
            timer._expire()


_clock = _Clock()
# A child process has no clock thread (and perhaps a lock held at the fork): a new clock.
os.register_at_fork(after_in_child=_clock._reset)


class SocketTimer:
    """Shuts down every socket it watches once ``seconds`` have passed since it was entered.

    Shutting a socket down ends whatever read or write is blocked on it, however slowly the
    other side trickles bytes. ``expired`` says whether the time ran out. The expiry runs
    in one thread shared by every timer of the process.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._done = False
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> Self:
        self._entry = _clock.add(time.monotonic() + self.seconds, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            # After this no shutdown can reach a socket that went back to the pool.
            self._done = True
            watched, self._sockets = self._sockets, []
        _clock.cancel(self._entry)
        self._release(watched)

    def watch(self, sock: socket.socket) -> bool:
        """Shut ``sock`` down when the time runs out (now, if it has); False once exited."""
        with self._lock:
            if self._done:
                return False
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)
        return True

    def _release(self, sockets: list[socket.socket]) -> None:
        """Called on exit with the sockets that were watched."""

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


class Deadline(SocketTimer):
    """Ends one request ``seconds`` after it started, whatever it is waiting for.

    Use as a context manager around the request and the reading of its body. ``expired``
    says whether the deadline cut the request; ``sending`` whether the request had
    started to be written by then (so it may have reached the server).
    """

    def __init__(self, seconds: float, *, may_send: Callable[[], bool] | None = None) -> None:
        super().__init__(seconds)
        self.sending = False
        self._may_send = may_send
        self._previous: Deadline | None = None

    def __enter__(self) -> Self:
        self._previous = current()
        _local.deadline = self
        return super().__enter__()

    def _release(self, sockets: list[socket.socket]) -> None:
        for watcher in sockets:
            watcher.close()
        _local.deadline = self._previous

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock``: shut it down when the deadline passes (now, if it has).

        The deadline keeps its own descriptor of the socket: wrapping it in TLS detaches
        the original object, and shutting down any descriptor of a socket ends it.
        """
        try:
            watcher = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:
            return  # Already closed: nothing can block on it.
        if not self.watch(watcher):
            watcher.close()

    def before_send(self, sock: socket.socket) -> None:
        """Called right before the request is written on the connected ``sock``."""
        if self._may_send is not None and not _allowed(self._may_send):
            raise SendRefused
        with self._lock:
            if self.expired:
                raise DeadlinePassedBeforeSending
            self.sending = True
        self.attach(sock)


def current() -> Deadline | None:
    """The deadline of the request being made in this thread, if any."""
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


def _allowed(may_send: Callable[[], bool]) -> bool:
    try:
        return bool(may_send())
    except Exception:
        # A check that cannot answer must not let the request out.
        return False


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS sockets: it only wakes a blocked read in
    # the requesting thread and leaves the TLS state to that thread.
    with contextlib.suppress(OSError):  # already closed: nothing is blocked on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _before_send(conn: HTTPConnection) -> None:
    deadline = current()
    if deadline is None:
        return
    if conn.sock is None:
        # Connect first, so the check below is the last step before the first byte.
        conn.connect()
    assert conn.sock is not None
    deadline.before_send(conn.sock)


def _watch(sock: socket.socket) -> socket.socket:
    deadline = current()
    if deadline is not None:
        deadline.attach(sock)  # before any TLS handshake, so the deadline also ends that
    return sock


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _watch(super()._new_conn())

    def request(self, *args: Any, **kwargs: Any) -> None:
        _before_send(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(_HTTPConnection, HTTPSConnection):
    """The same hooks; TLS from HTTPSConnection."""


def pool_classes(
    http: type[HTTPConnection], https: type[HTTPSConnection]
) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes by scheme (a ``PoolManager``'s ``pool_classes_by_scheme``)
    whose pools make their connections with ``http`` and ``https``."""

    class Pool(HTTPConnectionPool):
        ConnectionCls = http

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = https

    return {"http": Pool, "https": TLSPool}


_POOL_CLASSES = pool_classes(_HTTPConnection, _HTTPSConnection)


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections obey the current thread's :class:`Deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES
