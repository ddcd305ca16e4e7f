"""The audit log's values: masked e-mails, keyed hashes, lines limited per window."""

from __future__ import annotations

import logging

import pytest

from protocol.audit import Audit, audit_key, mask_email


@pytest.mark.parametrize(("email", "masked"), [
    ("Jane.Doe@Example.COM", "j***@example.com"),
    ("  bob@mail.example.org ", "b***@mail.example.org"),
    ("_x@example.com", "***@example.com"),  # only a plain first character is kept
    ("@example.com", "***@example.com"),
    ("no-at-sign", "***"),
    ("a@b@evil\ncom", "a***@?"),  # a domain that is not a plain host name is not shown
    ("é@example.com", "***@example.com"),
    ("x@" + "d" * 300, "x***@?"),
])
def test_masked_email_keeps_one_character_and_a_plain_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_email_hash_is_keyed_and_ignores_case_and_spaces() -> None:
    one, other = Audit(audit_key("s" * 40)), Audit(audit_key("t" * 40))
    h = one.email_hash("Jane@Example.com")
    assert len(h) == 16 and int(h, 16) >= 0
    assert one.email_hash(" jane@example.com ") == h  # one address, one hash
    assert Audit(audit_key("s" * 40)).email_hash("jane@example.com") == h  # same secret: every node agrees
    assert other.email_hash("jane@example.com") != h  # another deployment's secret
    assert one.email_hash("john@example.com") != h


def test_lines_per_window_are_limited_but_every_event_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    audit = Audit(per_window=3, window=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="audit"):
        for i in range(5):
            audit.handshake_refused(f"10.0.0.{i}:1234", 404, "wrong_path")
        audit.login_failed("10.0.0.9:99", "a@example.com", "invalid_credentials")  # its own budget
        now[0] = 10.0
        audit.handshake_refused("10.0.0.7:1234", 401, "invalid_token")
    lines = [(r.getMessage(), r.__dict__.get("peer"), r.__dict__.get("not_logged")) for r in caplog.records]
    assert lines == [
        ("handshake refused", "10.0.0.0:1234", None),
        ("handshake refused", "10.0.0.1:1234", None),
        ("handshake refused", "10.0.0.2:1234", None),
        ("login failed", "10.0.0.9:99", None),
        ("handshake refused", "10.0.0.7:1234", 2),  # the next window says how many were left out
    ]
    assert audit.counts == {("audit.handshake_refused", "wrong_path"): 5,
                            ("audit.handshake_refused", "invalid_token"): 1,
                            ("audit.login_failed", "invalid_credentials"): 1}
