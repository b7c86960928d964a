"""The client against the emulator over loopback, one test per kind of trouble."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from clicktoagent.dialogtech.client import USER_AGENT, ClickToAgentRequest, DialogTechClient
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.exceptions import (
    ConfigurationError,
    MaybeSentError,
    NotSentError,
    RejectedError,
    ResponseError,
    SendCancelledError,
)
from tests.conftest import ACCESS_KEY, SECRET_ACCESS_KEY

REQUEST = ClickToAgentRequest(
    queue_id="12345", agent_id="98765", phone_to_call="3125550123", record=0, warning=1
)


def make_client(url: str, *, read_timeout: float = 2.0, **kwargs) -> DialogTechClient:
    options = {
        "base_url": url,
        "access_key": ACCESS_KEY,
        "secret_access_key": SECRET_ACCESS_KEY,
        "connect_timeout": 1.0,
        "read_timeout": read_timeout,
        "max_response_bytes": 65536,
        **kwargs,
    }
    return DialogTechClient(**options)


@pytest.fixture
def server(_sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    _sandbox_server.reset()
    yield _sandbox_server
    _sandbox_server.reset()


@pytest.fixture
def client(server: SandboxServer) -> Iterator[DialogTechClient]:
    client = make_client(server.url)
    yield client
    client.close()


def test_success_sends_every_parameter(server: SandboxServer, client: DialogTechClient) -> None:
    request = ClickToAgentRequest(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        first_callerid="3125550100",
        second_callerid="3125550199",
        record=1,
        warning=3,
    )
    response = client.click_to_agent(request)
    assert response.ok
    assert len(response.sid) == 16
    (seen,) = server.requests()
    assert seen["method"] == "GET"
    assert seen["params"] == {
        "action": "clickto.agent",
        "access_key": "***",
        "secret_access_key": "***",
        "queue_id": "12345",
        "agent_id": "98765",
        "phone_to_call": "3125550123",
        "first_callerid": "3125550100",
        "second_callerid": "3125550199",
        "record": "1",
        "warning": "3",
    }
    assert seen["sid"] == response.sid


def test_record_and_warning_are_always_sent(
    server: SandboxServer, client: DialogTechClient
) -> None:
    client.click_to_agent(REQUEST)
    (seen,) = server.requests()
    assert seen["params"]["record"] == "0"
    assert seen["params"]["warning"] == "1"
    assert "first_callerid" not in seen["params"]


def test_user_agent_names_the_package(client: DialogTechClient) -> None:
    assert client.session.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("django-clicktoagent/")


def test_session_is_reused_between_calls(server: SandboxServer, client: DialogTechClient) -> None:
    session = client.session
    client.click_to_agent(REQUEST)
    client.click_to_agent(REQUEST)
    assert client.session is session
    assert len(server.requests()) == 2


def test_refusal_is_a_parsed_failure(server: SandboxServer, client: DialogTechClient) -> None:
    server.set_agent_mode("98765", "Closed")
    response = client.click_to_agent(REQUEST)
    assert not response.ok
    assert response.result == "failed"
    assert "Closed" in response.result_description


def test_wrong_credentials_are_a_failure_without_the_secret(server: SandboxServer) -> None:
    client = make_client(server.url, secret_access_key="wrong-secret-value")
    response = client.click_to_agent(REQUEST)
    assert not response.ok
    assert "wrong-secret-value" not in response.result_description


@pytest.mark.parametrize("fault", ["http_500", "drop", "read_timeout"])
def test_may_have_been_sent(server: SandboxServer, fault: str) -> None:
    client = make_client(server.url, read_timeout=0.5)
    server.add_fault(fault, seconds=2.0 if fault == "read_timeout" else None)
    with pytest.raises(MaybeSentError) as info:
        client.click_to_agent(REQUEST)
    assert not isinstance(info.value, NotSentError)
    assert "may have been placed" in str(info.value)
    # The emulator processed the call before failing to answer: exactly the risk.
    assert server.requests()[0]["sid"]


def test_trickled_answer_is_cut_at_the_total_deadline(server: SandboxServer) -> None:
    # Each byte comes well within the read timeout; only a total deadline stops this.
    client = make_client(server.url, connect_timeout=0.5, read_timeout=1.0)
    server.add_fault("trickle", seconds=0.3)
    started = time.monotonic()
    with pytest.raises(MaybeSentError) as info:
        client.click_to_agent(REQUEST)
    assert time.monotonic() - started < 10  # the whole trickle takes over 30 s
    assert not isinstance(info.value, NotSentError)
    # By default the total deadline is the connect timeout plus the read timeout.
    assert "within the total timeout of 1.5 s" in str(info.value)
    assert "may have been placed" in str(info.value)
    assert server.requests()[0]["sid"]


def test_slow_first_byte_is_cut_at_the_total_deadline(server: SandboxServer) -> None:
    client = make_client(server.url, connect_timeout=0.5, read_timeout=20.0, total_timeout=1.0)
    server.add_fault("read_timeout", seconds=15.0)
    started = time.monotonic()
    with pytest.raises(MaybeSentError, match="within the total timeout of 1 s"):
        client.click_to_agent(REQUEST)
    assert time.monotonic() - started < 10  # not the 20 s read timeout
    assert server.requests()[0]["sid"]


def test_a_fast_answer_is_not_disturbed_by_the_deadline(
    server: SandboxServer, client: DialogTechClient
) -> None:
    for _ in range(3):  # also over a reused connection
        assert client.click_to_agent(REQUEST).ok
    assert len(server.requests()) == 3


def test_deadlines_share_one_clock_thread_and_a_later_short_one_still_fires(
    server: SandboxServer, client: DialogTechClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_timer(*args: object, **kwargs: object) -> None:
        raise AssertionError("a timer thread was started for one request")

    monkeypatch.setattr(threading, "Timer", no_timer)
    for _ in range(20):
        assert client.click_to_agent(REQUEST).ok
    clocks = [t for t in threading.enumerate() if t.name == "clicktoagent-deadlines"]
    assert len(clocks) == 1
    # A deadline shorter than those already waiting (20 s) wakes the clock in time.
    short = make_client(server.url, connect_timeout=0.5, read_timeout=20.0, total_timeout=0.5)
    server.add_fault("read_timeout", seconds=5.0)
    started = time.monotonic()
    with pytest.raises(MaybeSentError, match=r"within the total timeout of 0\.5 s"):
        short.click_to_agent(REQUEST)
    assert time.monotonic() - started < 3


def test_request_withdrawn_right_before_sending_is_never_sent(server: SandboxServer) -> None:
    client = make_client(server.url)
    checks: list[bool] = []

    def may_send() -> bool:
        checks.append(True)
        return False

    with pytest.raises(SendCancelledError, match="not sent"):
        client.click_to_agent(REQUEST, may_send=may_send)
    assert checks == [True]
    assert server.requests() == []
    # The client stays usable.
    assert client.click_to_agent(REQUEST, may_send=lambda: True).ok


@pytest.mark.parametrize("fault", ["malformed", "empty"])
def test_unreadable_answer_is_a_response_error(
    server: SandboxServer, client: DialogTechClient, fault: str
) -> None:
    server.add_fault(fault)
    with pytest.raises(ResponseError):
        client.click_to_agent(REQUEST)


def test_oversized_answer_is_refused(server: SandboxServer) -> None:
    client = make_client(server.url, max_response_bytes=40)
    with pytest.raises(MaybeSentError, match="larger than 40 bytes"):
        client.click_to_agent(REQUEST)


@pytest.mark.parametrize(("fault", "status"), [("http_503", 503), ("http_429", 429)])
def test_refusal_to_process_is_not_sent_with_retry_after(
    server: SandboxServer, client: DialogTechClient, fault: str, status: int
) -> None:
    server.add_fault(fault, seconds=7)
    with pytest.raises(NotSentError) as info:
        client.click_to_agent(REQUEST)
    assert f"HTTP {status}" in str(info.value)
    assert info.value.retry_after == 7.0
    assert server.requests()[0]["sid"] is None


def test_http_4xx_is_rejected(server: SandboxServer) -> None:
    client = make_client(server.base + "/no-such-endpoint.php")
    with pytest.raises(RejectedError, match="HTTP 404"):
        client.click_to_agent(REQUEST)


def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/ibp_api.php")
    with pytest.raises(NotSentError, match="Could not connect"):
        client.click_to_agent(REQUEST)


def test_name_resolution_failure_is_not_sent() -> None:
    client = make_client("http://dialogtech-does-not-exist.invalid/ibp_api.php")
    with pytest.raises(NotSentError, match="Could not resolve"):
        client.click_to_agent(REQUEST)


def test_connect_timeout_is_not_sent() -> None:
    # A listening socket whose backlog is full drops new SYNs: the connect times out.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        client = make_client(f"http://127.0.0.1:{port}/ibp_api.php", connect_timeout=0.3)
        with pytest.raises(NotSentError, match="Timed out connecting"):
            client.click_to_agent(REQUEST)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_missing_credentials_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="credentials are missing"):
        make_client("http://127.0.0.1:1/ibp_api.php", secret_access_key="")


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        make_client("ftp://example.com/ibp_api.php")


def test_redirects_are_not_followed_with_the_credentials(server: SandboxServer) -> None:
    """A 3xx would make requests send the keys to the new location: refused instead."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", server.url + "?" + self.path.partition("?")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        client = make_client(f"http://127.0.0.1:{redirector.server_address[1]}/ibp_api.php")
        with pytest.raises(RejectedError, match="HTTP 302"):
            client.click_to_agent(REQUEST)
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert server.requests() == []


def test_credentials_in_the_base_url_stay_out_of_messages() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://proxyuser:proxy-password@127.0.0.1:{port}/ibp_api.php")
    with pytest.raises(NotSentError) as info:
        client.click_to_agent(REQUEST)
    assert "proxy-password" not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_tls_failure_is_treated_as_possibly_sent(server: SandboxServer) -> None:
    # Speaking TLS to a plain HTTP port fails mid-handshake: only a refused certificate
    # proves nothing was sent, so anything else is the cautious "may have been placed".
    client = make_client(server.url.replace("http://", "https://"))
    with pytest.raises(MaybeSentError, match="TLS connection"):
        client.click_to_agent(REQUEST)
    assert server.requests() == []
