"""A test server's life: bound on construction, served from a daemon thread, stopped once.

Shared by the DialogTech emulator (``dialogtech/sandbox/server.py``) and the CRM stand-ins
(``crm/standins/``). Standard library only, so the emulator stays free of Django.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Serves ``httpd`` (already bound: port 0 picks a free port, so :attr:`base` is known
    before :meth:`start`). Use as a context manager, or call :meth:`start`/:meth:`stop`;
    :meth:`serve_forever` serves in the calling thread."""

    def __init__(self, httpd: ThreadingHTTPServer, *, thread_name: str) -> None:
        self._httpd = httpd
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._life = threading.Lock()
        self._serving = False
        self._closed = False

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        """``http://host:port``, with an IPv6 host in brackets."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Serve in a daemon thread; return self."""
        with self._life:
            if self._closed:
                raise RuntimeError(f"{type(self).__name__} has been stopped")
            if self._serving:
                return self
            self._serving = True
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or an
        exception such as ``KeyboardInterrupt``."""
        with self._life:
            if self._closed:
                raise RuntimeError(f"{type(self).__name__} has been stopped")
            if self._serving:
                raise RuntimeError(f"{type(self).__name__} is already serving")
            self._serving = True
        self._run()

    def stop(self) -> None:
        """Stop serving, wake requests held on purpose and close the socket (idempotent)."""
        with self._life:
            if self._closed:
                return
            self._closed = True
            serving = self._serving
        self._wake()
        if serving:
            self._httpd.shutdown()
        self._httpd.server_close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _wake(self) -> None:
        """Ends whatever a handler is waiting for on purpose (a hanging fault)."""

    def _run(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.02)
        finally:
            with self._life:
                self._serving = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
