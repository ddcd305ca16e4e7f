"""Every example of the OpenRPC document, played against a real gateway: each call
succeeds and its answer matches the method's result schema (the document's, with its
`$ref`s). A method without an example fails here too (and in tests/protocol).

Examples run in name order, except `FIRST` (what others need) and `LAST` (what ends the
session). Values that cannot be written down in an example (tokens, ids the server
makes) are taken from earlier answers: a param named in `LIVE` gets the value of the
latest answer field of that name. A new method whose example needs state: put what
makes the state in `FIRST`, and its id's name in `LIVE`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import jsonschema

from gateway.reference import reference_document
from protocol import openrpc
from tests.auth_helpers import create_user, fresh_email, login
from tests.support import connect

DOC = reference_document()

FIRST = ["content.upsert", "auth.register", "auth.login", "auth.refresh", "experiments.create", "playback.start",
         "playback.position", "playback.stop"]
"""What other examples need done first (the catalog, the account, the experiment, a session)."""
LAST = ["auth.revoke_family", "auth.logout"]
"""What ends the example user's session."""
LIVE = ("access_token", "refresh_token", "session_id", "subscription")
"""Params whose example value is replaced by the latest answer's field of that name
(`family_id`: a second login's, the family auth.revoke_family may revoke)."""


def order(names: list[str]) -> list[str]:
    middle = sorted(n for n in names if n not in FIRST and n not in LAST)
    return [n for n in FIRST if n in names] + middle + [n for n in LAST if n in names]


def result_validator(m: dict[str, Any]) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(openrpc.resolve(m["result"]["schema"], DOC))


async def test_every_example_round_trips_through_a_real_gateway(gateway: Any) -> None:
    methods = {m["name"]: m for m in DOC["methods"]}
    admin_email = fresh_email("admin")
    await create_user(gateway.app.services, admin_email, admin=True)
    admin = await login(gateway.url, admin_email)
    live: dict[str, Any] = {}
    played = []
    async with AsyncExitStack() as stack:
        anyone = await stack.enter_async_context(connect(gateway.url))
        admin_conn = await stack.enter_async_context(connect(gateway.url, admin["access_token"]))
        user_conn = None
        for name in order(list(methods)):
            m = methods[name]
            assert m["examples"], f"{name} has no example"
            for example in m["examples"]:
                params = {p["name"]: p["value"] for p in example["params"]}
                for key in (*LIVE, "family_id"):
                    if key in params:
                        params[key] = live[key]
                conn = {"anyone": anyone, "admin": admin_conn}.get(m["x-access"], user_conn)
                assert conn is not None, f"{name}: a user method played before auth.login"
                result = await conn.call(name, params)
                problems = [f"{list(e.absolute_path)}: {e.message}" for e in result_validator(m).iter_errors(result)]
                assert not problems, f"{name} ({example['name']}): {problems}\n{result}"
                played.append(name)
                live.update({key: result[key] for key in LIVE if key in result})
                if name == "auth.login":
                    # A second login of the same account: the family auth.revoke_family revokes.
                    live["family_id"] = (await anyone.call("auth.login", params))["family_id"]
                    user_conn = await stack.enter_async_context(connect(gateway.url, result["access_token"]))
    assert set(played) == set(methods)
