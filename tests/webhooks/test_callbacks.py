"""The generic endpoint's callback_url: no server-side request forgery, no held responses.

A callback goes only to an allow-listed host, over https, to a public address checked
when connecting, without the environment's credentials or proxies, without following
redirects, within a total deadline; retries go through the task backend or the
reconciler, never a sleep inside the webhook request.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, WebhookEvent
from clicktoagent.webhooks.callback_policy import (
    CallbackPolicy,
    CallbackURLError,
    address_is_public,
)
from clicktoagent.webhooks.outbound import callback_post
from clicktoagent.webhooks.tasks import webhook_callbacks_reconcile
from tests.webhooks.conftest import (
    BASE,
    CallbackServer,
    generic_headers,
    json_body,
    post_json,
    serve_callbacks,
)

pytestmark = pytest.mark.django_db(transaction=True)

URL = f"{BASE}/generic/"
CALL = {"phone_to_call": "(312) 555-0123", "queue_id": "12345", "agent_id": "98765"}
Pending = WebhookEvent.CallbackStatus.PENDING
Delivered = WebhookEvent.CallbackStatus.DELIVERED
Failed = WebhookEvent.CallbackStatus.FAILED


def deliver(data: dict[str, Any], *, msg_id: str = "msg_cb") -> Any:
    body = json_body(data)
    return post_json(Client(), URL, body, **generic_headers(body, msg_id=msg_id))


def allow(settings: Any, *hosts: str, http: bool = False, **more: Any) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "CALLBACK_ALLOWED_HOSTS": list(hosts),
        "CALLBACK_ALLOW_HTTP": http,
        **more,
    }


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name -> the addresses ``socket.getaddrinfo`` answers (what DNS would say)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host in answers:
            result = []
            for address in answers[host]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr: tuple[Any, ...] = (address, int(port))
                if family == socket.AF_INET6:
                    sockaddr = (address, int(port), 0, 0)
                result.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return result
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def wait_until_due(event: WebhookEvent) -> None:
    event.refresh_from_db()
    assert event.callback_next_try_at is not None
    while timezone.now() <= event.callback_next_try_at:
        time.sleep(0.01)


# -- refused when the delivery arrives: 400 naming callback_url, nothing stored or dialled --


@pytest.mark.parametrize(
    ("callback_url", "reason"),
    [
        ("https://127.0.0.1/hook", "not allowed"),
        ("https://localhost/hook", "not allowed"),
        ("https://[::1]/hook", "not allowed"),
        ("https://169.254.169.254/latest/meta-data/", "not allowed"),
        ("https://10.0.0.1/hook", "not allowed"),
        ("https://[fd00::1]/hook", "not allowed"),
        ("https://crm.internal/hook", "not allowed"),
        ("https://evil.example.org/hook", "not allowed"),
        ("https://hooks.example.com.evil.org/hook", "not allowed"),
        ("https://notexample.com/hook", "not allowed"),
        ("https://user:pass@hooks.example.com/hook", "user name or password"),
        ("https://user@hooks.example.com/hook", "user name or password"),
        ("https://hooks.example.com@10.0.0.1/hook", "user name or password"),
        ("http://hooks.example.com/hook", "only https"),
        ("ftp://hooks.example.com/hook", "only https"),
        ("not a url", "not a valid URL"),
    ],
)
def test_unsafe_callback_url_is_refused_with_400_and_nothing_is_dialled(
    webhook_settings: SandboxServer, settings, demo_data, callback_url: str, reason: str
) -> None:
    allow(settings, ".example.com")
    response = deliver({**CALL, "callback_url": callback_url})
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["status"] == "rejected"
    assert data["error"].startswith("callback_url: ")
    assert reason in data["error"]
    assert "pass@" not in data["error"]  # the URL's credentials are not echoed
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED
    assert event.error == data["error"]
    assert event.callback_status == WebhookEvent.CallbackStatus.NONE
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []


def test_callback_to_the_emulators_control_endpoint_is_refused(
    webhook_settings: SandboxServer, settings, demo_data
) -> None:
    """The reported attack: a callback to the emulator's reset endpoint reset it."""
    allow(settings, ".example.com", http=True)
    webhook_settings.add_fault("latency", seconds=0.01)
    response = deliver({**CALL, "callback_url": f"{webhook_settings.base}/_sandbox/reset"})
    assert response.status_code == 400
    assert "callback_url" in response.json()["error"]
    assert len(webhook_settings.faults()) == 1  # not reset
    assert not CallAttempt.objects.exists()


def test_callbacks_are_off_by_default(webhook_settings: SandboxServer, settings, demo_data) -> None:
    settings.CLICKTOAGENT = {
        key: value
        for key, value in settings.CLICKTOAGENT.items()
        if key not in ("CALLBACK_ALLOWED_HOSTS", "CALLBACK_ALLOW_HTTP")
    }
    response = deliver({**CALL, "callback_url": "https://crm.example.com/hooks/done"})
    assert response.status_code == 400
    assert "callback_url: callbacks are off" in response.json()["error"]
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []
    # Without a callback_url the delivery is served as before.
    assert deliver(CALL, msg_id="msg_no_callback").status_code == 200
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED


def test_allowed_https_callback_url_is_accepted(
    webhook_settings: SandboxServer, settings, demo_data, resolve
) -> None:
    # The host is refused when connecting (documentation address), not when validating.
    resolve["hooks.example.com"] = ["192.0.2.10"]
    allow(settings, ".example.com")
    response = deliver({**CALL, "callback_url": "https://hooks.example.com/done"})
    assert response.status_code == 200, response.content
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED
    event = WebhookEvent.objects.get()
    assert event.callback_url == "https://hooks.example.com/done"
    assert event.callback_status == Failed
    assert "192.0.2.10, which is not a public address" in event.callback_error


# -- checked when connecting ----------------------------------------------------------------


def test_dns_rebinding_to_loopback_is_refused_at_connect_time(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer, resolve
) -> None:
    # An allowed name whose DNS answers with a loopback address when the callback is sent.
    resolve["hooks.example.com"] = ["127.0.0.1"]
    allow(settings, ".example.com", http=True)
    url = f"http://hooks.example.com:{callback_server.port}/hooks/call-finished"
    response = deliver({**CALL, "callback_url": url})
    assert response.status_code == 200
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED
    event = WebhookEvent.objects.get()
    assert event.callback_status == Failed
    assert "127.0.0.1" in event.callback_error
    assert "not a public address" in event.callback_error
    assert callback_server.received == []


def test_any_non_public_answer_among_several_refuses_the_host(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer, resolve
) -> None:
    resolve["hooks.example.com"] = ["93.184.215.14", "10.1.2.3"]
    allow(settings, ".example.com", http=True)
    deliver({**CALL, "callback_url": f"http://hooks.example.com:{callback_server.port}/x"})
    event = WebhookEvent.objects.get()
    assert event.callback_status == Failed
    assert "10.1.2.3" in event.callback_error


def test_connects_to_exactly_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, settings, resolve
) -> None:
    """Resolved once: a second, different DNS answer is never used."""
    from urllib3.util import connection

    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        address = next(answers)[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    dialled: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        dialled.append(address)
        raise ConnectionRefusedError(111, "refused")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(connection, "create_connection", refuse)
    policy = CallbackPolicy(allowed_hosts=(".example.com",), allow_http=True)
    result = callback_post(
        url="http://hooks.example.com:8080/x", data=b"{}", headers={}, timeout=2, policy=policy
    )
    assert not result.delivered
    assert lookups == ["hooks.example.com"]
    assert dialled == [("93.184.215.14", 8080)]


@pytest.mark.parametrize("listed", ["127.0.0.1", "localhost"])
def test_host_listed_literally_may_be_a_local_address(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer, listed
) -> None:
    allow(settings, listed, http=True)
    url = f"http://{listed}:{callback_server.port}/hooks/call-finished"
    response = deliver({**CALL, "callback_url": url})
    assert response.status_code == 200, response.content
    assert len(callback_server.wait_for(1)) == 1
    assert callback_server.received[0]["headers"]["Host"] == f"{listed}:{callback_server.port}"
    assert WebhookEvent.objects.get().callback_status == Delivered


def test_suffix_entry_never_reaches_a_local_address_even_for_its_own_domain(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer, resolve
) -> None:
    resolve["example.com"] = ["127.0.0.1"]
    allow(settings, ".example.com", http=True)
    deliver({**CALL, "callback_url": f"http://example.com:{callback_server.port}/x"})
    assert WebhookEvent.objects.get().callback_status == Failed
    assert callback_server.received == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),
        ("::1", False),
        ("::", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::1", False),
        ("2001:db8::1", False),
        ("8.8.8.8", True),
        ("93.184.215.14", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert address_is_public(ipaddress.ip_address(address)) is public


# -- the environment is not trusted -----------------------------------------------------------


def test_netrc_and_proxy_environment_are_ignored(
    webhook_settings: SandboxServer,
    settings,
    demo_data,
    callback_server: CallbackServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password netrc-password-1\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serve_callbacks() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        response = deliver({**CALL, "callback_url": callback_server.url})
        assert response.status_code == 200
        assert len(callback_server.wait_for(1)) == 1
        assert proxy.received == []
    headers = {k.lower() for k in callback_server.received[0]["headers"]}
    assert "authorization" not in headers
    assert WebhookEvent.objects.get().callback_status == Delivered


def test_redirect_is_not_followed(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    with serve_callbacks() as elsewhere:
        callback_server.statuses = [302]
        callback_server.redirect_to = elsewhere.url
        response = deliver({**CALL, "callback_url": callback_server.url})
        assert response.status_code == 200
        assert len(callback_server.received) == 1
        assert elsewhere.received == []
    event = WebhookEvent.objects.get()
    assert event.callback_status == Pending  # tried again later, never at the Location
    assert event.callback_error == (
        "The callback URL answered HTTP 302 (redirects are not followed)."
    )


# -- a total deadline; the webhook response is never held -------------------------------------


@contextmanager
def stalling_server(mode: str, seconds: float = 30.0) -> Iterator[tuple[int, list[float]]]:
    """A TCP server that accepts and then hangs, or trickles a never-ending header."""
    stop = threading.Event()
    accepted: list[float] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            accepted.append(time.monotonic())
            if mode == "hang":
                stop.wait(seconds)
                return
            # One byte every 0.1 s: faster than any read timeout, so only a total
            # deadline ends it.
            try:
                self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Padding: ")
                end = time.monotonic() + seconds
                while not stop.is_set() and time.monotonic() < end:
                    self.request.sendall(b"a")
                    stop.wait(0.1)
            except OSError:
                return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        block_on_close = False

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], accepted
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_slow_callback_is_cut_at_its_deadline_and_does_not_hold_the_response(
    webhook_settings: SandboxServer, settings, demo_data, mode: str
) -> None:
    allow(settings, "127.0.0.1", http=True, WEBHOOK_CALLBACK_TIMEOUT=0.5)
    with stalling_server(mode) as (port, accepted):
        started = time.monotonic()
        response = deliver({**CALL, "callback_url": f"http://127.0.0.1:{port}/hook"})
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert response.json()["attempts"][0]["status"] == "placed"
        # The server would stall for 30 s; one try ends at its 0.5 s deadline.
        assert elapsed < 10
        assert len(accepted) == 1  # one try in the request, no in-process retries
    event = WebhookEvent.objects.get()
    assert event.callback_status == Pending
    assert event.callback_tries == 1
    assert event.callback_error == "The callback URL did not answer within 0.5 s."
    assert event.callback_next_try_at is not None


def test_callback_post_deadline_covers_the_whole_try(settings) -> None:
    policy = CallbackPolicy(allowed_hosts=("127.0.0.1",), allow_http=True)
    with stalling_server("trickle") as (port, _accepted):
        started = time.monotonic()
        result = callback_post(
            url=f"http://127.0.0.1:{port}/", data=b"{}", headers={}, timeout=0.3, policy=policy
        )
        elapsed = time.monotonic() - started
    assert not result.delivered
    assert result.error == "The callback URL did not answer within 0.3 s."
    assert elapsed < 10


# -- retries: the task backend or the reconciler, never a sleep in the request ----------------


def test_failed_try_is_left_pending_and_the_reconciler_sends_it_again(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    callback_server.statuses = [500]
    response = deliver({**CALL, "callback_url": callback_server.url})
    assert response.status_code == 200
    assert len(callback_server.received) == 1  # one try during the request, no waiting
    event = WebhookEvent.objects.get()
    assert (event.callback_status, event.callback_tries) == (Pending, 1)
    assert event.callback_error == "The callback URL answered HTTP 500."
    wait_until_due(event)

    out = StringIO()
    call_command("clicktoagent_reconcile", pending_after=0, stdout=out)
    assert "callbacks queued again: 1" in out.getvalue()
    event.refresh_from_db()
    assert (event.callback_status, event.callback_tries) == (Delivered, 2)
    assert [r["status"] for r in callback_server.received] == [500, 200]
    # Delivered: nothing left to queue.
    assert webhook_callbacks_reconcile(pending_after=0).requeued == []


def test_reconciler_gives_up_after_max_tries(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    allow(settings, "127.0.0.1", http=True, WEBHOOK_CALLBACK_MAX_TRIES=2)
    callback_server.statuses = [500, 500, 500]
    deliver({**CALL, "callback_url": callback_server.url})
    event = WebhookEvent.objects.get()
    wait_until_due(event)
    report = webhook_callbacks_reconcile(pending_after=0)
    assert report.requeued == [event.pk]
    event.refresh_from_db()
    assert (event.callback_status, event.callback_tries) == (Failed, 2)
    assert event.callback_error == "The callback URL answered HTTP 500."
    assert len(callback_server.received) == 2
    assert webhook_callbacks_reconcile(pending_after=0).requeued == []
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED


def test_reconciler_waits_for_the_next_try_and_the_pending_after_margin(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    allow(settings, "127.0.0.1", http=True, WEBHOOK_CALLBACK_BACKOFF=60)
    callback_server.statuses = [500]
    deliver({**CALL, "callback_url": callback_server.url})
    event = WebhookEvent.objects.get()
    assert event.callback_next_try_at is not None
    assert event.callback_next_try_at > timezone.now()
    assert webhook_callbacks_reconcile(pending_after=0).requeued == []
    assert len(callback_server.received) == 1


def test_reconciler_closes_a_callback_whose_last_try_was_lost(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    allow(settings, "127.0.0.1", http=True, WEBHOOK_CALLBACK_MAX_TRIES=2)
    deliver({**CALL, "callback_url": callback_server.url})
    # A worker claimed the last try and died before recording its outcome.
    WebhookEvent.objects.update(
        callback_status=Pending, callback_tries=2, callback_next_try_at=timezone.now()
    )
    report = webhook_callbacks_reconcile(pending_after=0)
    assert report.failed == [WebhookEvent.objects.get().pk]
    event = WebhookEvent.objects.get()
    assert event.callback_status == Failed
    assert "Gave up after 2 tries" in event.callback_error
    assert len(callback_server.received) == 1


def test_a_callback_no_longer_allowed_is_not_sent(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    callback_server.statuses = [500]
    deliver({**CALL, "callback_url": callback_server.url})
    event = WebhookEvent.objects.get()
    wait_until_due(event)
    allow(settings, "crm.example.com")  # the operator withdrew the host meanwhile
    webhook_callbacks_reconcile(pending_after=0)
    event.refresh_from_db()
    assert event.callback_status == Failed
    assert event.callback_error.startswith("callback_url: ")
    assert len(callback_server.received) == 1


# -- https: the name is checked on the certificate, the pinned address is dialled -------------


@pytest.fixture
def tls_server(tmp_path) -> Iterator[dict[str, Any]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("callbacks.test")
    state: dict[str, Any] = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    def remember_sni(sock: Any, server_name: str | None, ctx: Any) -> None:
        state["sni"].append(server_name)

    context.sni_callback = remember_sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    state.update(port=server.server_address[1], ca=str(ca_path))
    yield state
    server.shutdown()
    server.server_close()


def test_https_checks_the_certificate_for_the_host_name(tls_server, resolve) -> None:
    resolve["callbacks.test"] = ["127.0.0.1"]
    resolve["other.test"] = ["127.0.0.1"]
    policy = CallbackPolicy(allowed_hosts=("callbacks.test", "other.test"), allow_http=False)
    port = tls_server["port"]
    result = callback_post(
        url=f"https://callbacks.test:{port}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        policy=policy,
        verify=tls_server["ca"],
    )
    assert result.delivered, result.error
    assert tls_server["sni"] == ["callbacks.test"]
    assert tls_server["hosts"] == [f"callbacks.test:{port}"]
    # The same address under a name the certificate does not carry is refused.
    wrong = callback_post(
        url=f"https://other.test:{port}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        policy=policy,
        verify=tls_server["ca"],
    )
    assert not wrong.delivered
    assert "SSLError" in wrong.error
    assert tls_server["hosts"] == [f"callbacks.test:{port}"]


# -- the allow-list itself ----------------------------------------------------------------------


def test_policy_matching_rules() -> None:
    policy = CallbackPolicy.from_value(
        ["crm.example.com", ".Example.ORG", "[::1]", "127.0.0.1"], allow_http=False
    )
    policy.check_url("https://crm.example.com/x")
    policy.check_url("https://CRM.example.com./x")
    policy.check_url("https://example.org/x")
    policy.check_url("https://a.b.example.org:8443/x")
    policy.check_url("https://[::1]:9000/x")
    for refused in (
        "https://www.crm.example.com/x",
        "https://example.com/x",
        "https://badexample.org/x",
        "https://example.org.evil.com/x",
        "https://127.0.0.2/x",
    ):
        with pytest.raises(CallbackURLError, match="not allowed"):
            policy.check_url(refused)
    assert policy.listed_literally("crm.example.com")
    assert policy.listed_literally("::1")
    assert not policy.listed_literally("a.example.org")
    # A comma-separated string works like a list.
    assert CallbackPolicy.from_value("a.example.com, .b.example.com", allow_http=False) == (
        CallbackPolicy(allowed_hosts=("a.example.com", ".b.example.com"), allow_http=False)
    )


def test_system_check_refuses_malformed_allow_list_entries(settings) -> None:
    settings.CLICKTOAGENT = {"CALLBACK_ALLOWED_HOSTS": ["https://crm.example.com", "*.example.org"]}
    messages = [m for m in run_checks() if m.id == "clicktoagent.E120"]
    assert len(messages) == 2
    assert "https://crm.example.com" in messages[0].msg
    settings.CLICKTOAGENT = {"CALLBACK_ALLOWED_HOSTS": ["crm.example.com", ".example.org"]}
    assert not [m for m in run_checks() if m.id == "clicktoagent.E120"]
