"""`main.py call`, `--version` and `create-user` as a person runs them, against a real
gateway: clear words for transport failures, exit 1 for an error answer, 2 for a
transport failure, the password from a prompt or standard input."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import orjson
import trio

from tests.auth_helpers import PASSWORD, fresh_email, login
from tests.services import free_port
from tests.support import ROOT

MAIN = [sys.executable, str(ROOT / "main.py")]


async def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process([*MAIN, *args], stdin=stdin, capture_stdout=True, capture_stderr=True,
                                  check=False, cwd=ROOT)


async def test_version() -> None:
    done = await run("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == "media-gateway 0.1.0"


async def test_a_result_exits_0_and_an_error_answer_exits_1(gateway: Any) -> None:
    done = await run("call", "system.ping", "--url", gateway.url)
    assert done.returncode == 0 and orjson.loads(done.stdout) == {"pong": True}
    done = await run("call", "content.get", '{"id": "nothing-here"}', "--url", gateway.url)
    assert done.returncode == 1
    assert orjson.loads(done.stderr)["error"]["code"] == -32004


async def test_an_unreachable_url_says_so_and_exits_2() -> None:
    url = f"ws://127.0.0.1:{free_port()}/v1"
    done = await run("call", "system.ping", "--url", url)
    assert done.returncode == 2
    message = done.stderr.decode()
    assert message.startswith(f"call failed: cannot reach {url}: "), message
    assert len(message.strip()) > len(f"call failed: cannot reach {url}: ")


async def test_a_refused_handshake_gives_the_status_and_body_in_words(gateway: Any) -> None:
    done = await run("call", "user.profile", "--url", gateway.url, "--token", "not-a-token")
    assert done.returncode == 2
    message = done.stderr.decode().strip()
    assert message == (f"call failed: the server at {gateway.url} refused the WebSocket handshake "
                       f"with HTTP 401: Invalid or expired token"), message


async def test_create_user_reads_the_password_from_standard_input(gateway: Any, tmp_path: Path) -> None:
    email = fresh_email()
    done = await run("create-user", "--email", email, "--data-dir", str(tmp_path / "data"),
                     stdin=PASSWORD.encode() + b"\n")
    assert done.returncode == 0, done.stderr
    assert (await login(gateway.url, email, PASSWORD))["access_token"]
    assert PASSWORD.encode() not in done.stdout + done.stderr


async def test_create_user_without_any_password_is_refused(tmp_path: Path) -> None:
    done = await run("create-user", "--email", fresh_email(), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    assert b"no password given" in done.stderr


def test_create_user_asks_twice_at_a_terminal(tmp_path: Path) -> None:
    email = fresh_email()
    leader, follower = os.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*MAIN, "create-user", "--email", email, "--data-dir", str(tmp_path / "data")],
                            stdin=follower, stdout=follower, stderr=follower, cwd=ROOT,
                            preexec_fn=controlling_terminal)
    os.close(follower)
    seen = b""
    try:
        for prompt in (b"Password: ", b"Password again: "):
            while prompt not in seen:
                seen += os.read(leader, 1024)
            seen = seen.split(prompt, 1)[1]
            os.write(leader, PASSWORD.encode() + b"\n")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            while chunk := os.read(leader, 1024):
                seen += chunk
        except OSError:
            pass
        os.close(leader)
    assert PASSWORD.encode() not in seen  # not echoed
    done = subprocess.run([*MAIN, "create-user", "--email", email, "--data-dir", str(tmp_path / "data")],
                          input=PASSWORD.encode() + b"\n", capture_output=True, cwd=ROOT)
    assert done.returncode == 1 and b"already registered" in done.stderr
