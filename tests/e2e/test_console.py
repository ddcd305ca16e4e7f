"""The console page in headless Chromium (Debian's, driven by Playwright) against a real
gateway process: it loads, logs in, searches as you type with facets and corrections,
plays a title streaming positions that `playback.resume` then returns, lists it under
continue watching, and shows the server's notifications as they arrive.

MG_CONSOLE_SCREENSHOT=path.png saves a screenshot of the page (docs/console.png is one).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from mgclient import connect, http_get
from protocol.api.catalog import EXAMPLE_ITEMS
from tests.auth_helpers import PASSWORD, fresh_email
from tests.services import missing_service
from tests.support import ROOT, GatewayProcess

CHROMIUM = os.environ.get("MG_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page() -> Any:
    if not Path(CHROMIUM).exists():
        missing_service(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright (pip install playwright)")
    profile = tempfile.mkdtemp(prefix="mg-chromium-")
    # Playwright runs its own asyncio loop; trio-asyncio (imported by the gateway's
    # adapters) replaced the event loop policy for the whole process.
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                            args=ARGS, viewport={"width": 1280, "height": 720})
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        asyncio.set_event_loop_policy(policy)
        shutil.rmtree(profile, ignore_errors=True)


async def seed(url: str, admin_email: str, user_email: str) -> None:
    async with connect(url) as conn:
        grant = await conn.call("auth.login", {"email": admin_email, "password": PASSWORD})
        await conn.call("auth.authenticate", {"access_token": grant["access_token"]})
        await conn.call("content.upsert", {"items": EXAMPLE_ITEMS})
        await conn.call("auth.register", {"email": user_email, "password": PASSWORD})


async def revoke(url: str, admin_email: str, family_id: str) -> None:
    async with connect(url) as conn:
        grant = await conn.call("auth.login", {"email": admin_email, "password": PASSWORD})
        await conn.call("auth.authenticate", {"access_token": grant["access_token"]})
        await conn.call("auth.revoke_family", {"family_id": family_id})


async def access_token(url: str, email: str) -> str:
    async with connect(url) as conn:
        return str((await conn.call("auth.login", {"email": email, "password": PASSWORD}))["access_token"])


async def resume_position(url: str, token: str, content_id: str) -> int:
    # One login for every poll: each login is a token family, and a user holds at most
    # 100 (one more ends the oldest, which would be the page's own).
    async with connect(url, token) as conn:
        return int((await conn.call("playback.resume", {"content_id": content_id}))["position_ms"])


def test_the_console_searches_plays_and_shows_notifications(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    data = tmp_path / "data"
    admin_email, user_email = fresh_email("admin"), fresh_email()
    made = subprocess.run([sys.executable, str(ROOT / "main.py"), "create-user", "--email", admin_email, "--admin",
                           "--data-dir", str(data)], input=PASSWORD + "\n", text=True, capture_output=True, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    gateway = GatewayProcess(data)
    try:
        trio.run(seed, gateway.url, admin_email, user_email)
        status, body = trio.run(http_get, gateway.admin + "/console")
        assert status == 200 and b"media-gateway console" in body

        page.goto(gateway.admin + "/console")
        page.wait_for_selector("#status:has-text('connected to')", timeout=15_000)
        # Anonymous search works at once; the catalog shows before any typing.
        page.wait_for_selector("#results li[data-id='m-amelie']", timeout=10_000)

        page.fill("#email", user_email)
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector(f"#who:has-text('logged in as {user_email}')", timeout=10_000)

        page.fill("#search", "")
        page.type("#search", "teh matrix", delay=20)  # as a person types: a search per pause
        page.wait_for_selector("#correction[data-corrected='the matrix']", timeout=10_000)
        assert page.inner_text("#results li[data-id='m-matrix']").startswith("The Matrix")
        assert page.locator("#results li").count() == 1
        page.fill("#search", "")
        page.wait_for_selector("#results li[data-id='s-dark']", timeout=10_000)
        page.click(".facet[data-group='genres'][data-value='Romance']")
        page.wait_for_function("document.querySelectorAll('#results li').length === 1", timeout=10_000)
        assert page.get_attribute("#results li", "data-id") == "m-amelie"
        page.click(".facet[data-group='genres'][data-value='Romance']")

        page.type("#search", "matrix", delay=20)
        page.wait_for_selector("#results li[data-id='m-matrix']", timeout=10_000)
        page.click("#results li[data-id='m-matrix']")
        page.wait_for_selector("#detail-title:has-text('The Matrix')")
        page.click("#play")
        page.wait_for_function("Number(document.querySelector('#position-ms').dataset.ms) >= 60000", timeout=15_000)
        shown = int(page.get_attribute("#position-ms", "data-ms") or 0)
        deadline = time.monotonic() + 10
        token = trio.run(access_token, gateway.url, user_email)
        while (stored := trio.run(resume_position, gateway.url, token, "m-matrix")) < shown:
            assert time.monotonic() < deadline, f"playback.resume says {stored} ms, the page showed {shown} ms"
            time.sleep(0.05)
        assert stored <= int(page.get_attribute("#position-ms", "data-ms") or 0)

        page.click("#stop")
        page.wait_for_selector("#continue li[data-id='m-matrix']", timeout=10_000)
        stopped_at = int(page.get_attribute("#position-ms", "data-ms") or 0)
        assert trio.run(resume_position, gateway.url, token, "m-matrix") == stopped_at

        screenshot = os.environ.get("MG_CONSOLE_SCREENSHOT")
        if screenshot:
            page.screenshot(path=screenshot)

        # Live notifications: an admin revokes the page's login, then the server stops.
        trio.run(revoke, gateway.url, admin_email, page.get_attribute("#who", "data-family"))
        page.wait_for_selector("#notes li[data-method='auth.revoked']", timeout=10_000)
        page.wait_for_selector("#who:has-text('session revoked')")
        # Closed with 4401, the page reconnects, anonymous.
        page.wait_for_function("document.body.dataset.connections === '2'", timeout=15_000)
        assert gateway.terminate() == 0
        page.wait_for_selector("#notes li[data-method='system.shutdown']", timeout=10_000)
    finally:
        gateway.kill()
