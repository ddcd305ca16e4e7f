"""Users and tokens for tests of any domain.

    from tests.auth_helpers import admin_token, user_token, create_user, login

    token = await user_token(gateway)                  # a fresh user's access token
    async with connect(gateway.url, token) as client:  # an authenticated connection
        ...

`gateway` is the `gateway` fixture of tests/conftest.py (an in-process App). For a
gateway in another process (`GatewayProcess`), register users over the wire with
`register_and_login(url)` and make admins with `create_user_cli(...)`.

Importing this module selects cheap Argon2 parameters (`MG_ARGON2_PROFILE=test`) for
this process and the gateway processes it starts, unless the variable is already set.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
from typing import Any

os.environ.setdefault("MG_ARGON2_PROFILE", "test")

from actors.tokens.accounts import create_user as _create_user  # noqa: E402
from gateway.services import Services  # noqa: E402
from mgclient import Connection as Client  # noqa: E402
from tests.support import ROOT, connect  # noqa: E402

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


def fresh_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_serial)}-{secrets.token_hex(3)}@example.com"


async def create_user(services: Services, email: str, password: str = PASSWORD, admin: bool = False,
                      display_name: str | None = None) -> str:
    """Create an account in the gateway's storage; returns its user id."""
    return await _create_user(services.storage, email=email, password=password,
                              display_name=display_name, admin=admin)


async def login(url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The `auth.login` result: access_token, refresh_token, family_id, user_id, ..."""
    async with connect(url) as client:
        return await client.call("auth.login", {"email": email, "password": password})


async def call(url: str, method: str, params: Any = None, token: str | None = None) -> Any:
    """One call on a fresh connection (authenticated with `token` when given)."""
    async with connect(url, token) as client:
        return await client.call(method, params)


async def new_user(gateway: Any, *, admin: bool = False, email: str | None = None) -> dict[str, Any]:
    """Create a user in `gateway` and log in: the login result plus `email`, `password`."""
    email = email or fresh_email("admin" if admin else "user")
    await create_user(gateway.app.services, email, PASSWORD, admin=admin)
    result = await login(gateway.url, email, PASSWORD)
    return {**result, "email": email, "password": PASSWORD}


async def user_token(gateway: Any) -> str:
    """The access token of a fresh ordinary user."""
    return (await new_user(gateway))["access_token"]


async def admin_token(gateway: Any) -> str:
    """The access token of a fresh admin."""
    return (await new_user(gateway, admin=True))["access_token"]


async def register_and_login(url: str, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    """Over the wire only (any gateway, in-process or not): auth.register then auth.login."""
    email = email or fresh_email()
    async with connect(url) as client:
        await client.call("auth.register", {"email": email, "password": password})
        result = await client.call("auth.login", {"email": email, "password": password})
    return {**result, "email": email, "password": password}


def create_user_cli(*data_args: str, email: str, password: str = PASSWORD, admin: bool = False,
                    env: dict[str, str] | None = None) -> str:
    """`main.py create-user` (e.g. `create_user_cli("--data-dir", str(d), email=...)`);
    returns the user id."""
    import orjson

    argv = [sys.executable, str(ROOT / "main.py"), "create-user", *data_args,
            "--email", email, "--password", password, *(["--admin"] if admin else [])]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"create-user failed ({out.returncode}): {out.stderr}")
    return orjson.loads(out.stdout.strip().splitlines()[-1])["user_id"]


__all__ = [
    "PASSWORD", "Client", "admin_token", "call", "create_user", "create_user_cli", "fresh_email",
    "login", "new_user", "register_and_login", "user_token",
]
