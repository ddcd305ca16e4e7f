"""Audit lines over real sockets: failed logins and refused handshakes name the peer,
never the password or the whole e-mail, and a flood of them cannot flood the log."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import trio

from gateway.logs import JsonFormatter
from mgclient import RpcError as RpcClientError
from tests.auth_helpers import PASSWORD, create_user, fresh_email
from tests.support import connect, http_get

pytestmark = pytest.mark.usefixtures("audit_log")


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="audit")
    return caplog


def audit_records(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [r.__dict__ for r in caplog.records if r.name == "audit" and r.__dict__.get("event") == event]


async def handshake(url: str, path: str, *extra: str) -> tuple[int, str]:
    """A raw WebSocket handshake: (HTTP status, the client's own `host:port`)."""
    host, port = re.match(r"ws://([\d.]+):(\d+)/", url).groups()  # type: ignore[union-attr]
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        local = "%s:%d" % stream.socket.getsockname()[:2]
        headers = "".join(f"{h}\r\n" for h in extra)
        await stream.send_all((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                               f"{headers}\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = await stream.receive_some(4096)
            assert chunk, "closed before answering"
            data += chunk
    return int(data.split()[1]), local


async def test_a_failed_login_names_the_peer_and_hides_the_email_and_password(
        gateway: Any, audit_log: pytest.LogCaptureFixture) -> None:
    email = fresh_email("jane")
    await create_user(gateway.app.services, email)
    wrong = "wrong-password-" + "x" * 20
    async with connect(gateway.url) as client:
        local = client.local_address
        with pytest.raises(RpcClientError) as failed:
            await client.call("auth.login", {"email": email.upper(), "password": wrong})
        assert failed.value.code == -32010
        with pytest.raises(RpcClientError):
            await client.call("auth.login", {"email": "nobody@example.com", "password": wrong})
        await client.call("auth.login", {"email": email, "password": PASSWORD})  # a success is not audited
    lines = audit_records(audit_log, "audit.login_failed")
    assert [(r["peer"], r["email"], r["reason"]) for r in lines] == [
        (local, "j***@example.com", "invalid_credentials"),
        (local, "n***@example.com", "invalid_credentials"),
    ]
    assert lines[0]["email_hash"] == gateway.app.audit.email_hash(email)  # one address, one hash, any case
    assert lines[1]["email_hash"] != lines[0]["email_hash"]
    text = "\n".join(JsonFormatter().format(r) for r in audit_log.records)
    assert wrong not in text and PASSWORD not in text
    assert email.split("@")[0] not in text.lower()


async def test_a_locked_email_is_audited_as_overloaded(gateway: Any, audit_log: pytest.LogCaptureFixture) -> None:
    email = fresh_email()
    await create_user(gateway.app.services, email)
    policy = gateway.app.domains.tokens.settings.throttle
    codes = []
    async with connect(gateway.url) as client:
        for _ in range(policy.limit + 1):
            with pytest.raises(RpcClientError) as failed:
                await client.call("auth.login", {"email": email, "password": "not the password"})
            codes.append(failed.value.code)
    assert codes == [-32010] * policy.limit + [-32006]
    reasons = [r["reason"] for r in audit_records(audit_log, "audit.login_failed")]
    assert reasons == ["invalid_credentials"] * policy.limit + ["overloaded"]


async def test_refused_handshakes_name_the_peer_the_status_and_the_reason(
        gateway: Any, audit_log: pytest.LogCaptureFixture) -> None:
    status_path, peer_path = await handshake(gateway.url, "/not-v1")
    status_token, peer_token = await handshake(gateway.url, "/v1", "Authorization: Bearer not-a-token")
    assert (status_path, status_token) == (404, 401)
    lines = audit_records(audit_log, "audit.handshake_refused")
    assert [(r["peer"], r["status"], r["reason"]) for r in lines] == [
        (peer_path, 404, "wrong_path"), (peer_token, 401, "invalid_token")]
    assert "not-a-token" not in "\n".join(JsonFormatter().format(r) for r in audit_log.records)


async def test_a_flood_of_refused_handshakes_is_counted_but_not_all_logged(
        gateway: Any, audit_log: pytest.LogCaptureFixture) -> None:
    started = trio.current_time()
    for _ in range(40):
        assert (await handshake(gateway.url, "/flood"))[0] == 404
    windows = 1 + int((trio.current_time() - started) // 10.0)  # normally one; more on a very slow machine
    lines = audit_records(audit_log, "audit.handshake_refused")
    assert 10 <= len(lines) <= 10 * windows < 40
    status, body = await http_get(gateway.admin + "/metrics")
    assert status == 200
    assert b'mg_audit_events_total{event="audit.handshake_refused",reason="wrong_path"} 40.0' in body
