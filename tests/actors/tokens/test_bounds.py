"""What an anonymous or ordinary caller can make the tokens domain store or compute, on
real storage (SQLite and PostgreSQL): new accounts per node, password checks per
connection, logins per user, refresh tokens per login."""

from __future__ import annotations

import attrs
import pytest
import trio

from actors.errors import AuthRequired, Overloaded
from actors.quota import QuotaLimits
from actors.storage import Storage
from actors.tokens import store
from actors.tokens.accounts import SUPERSEDED_REASON
from actors.tokens.settings import Clock, TokenSettings
from tests.actors.tokens.test_accounts import PASSWORD, make_accounts
from tests.auth_helpers import fresh_email
from tests.services import aio_loop, pg_database, pg_url, raw_storage, storage, storage_url  # noqa: F401


class Connection:
    """Stands for a client connection (held weakly by the quotas, as the real one is)."""


async def count(storage: Storage, sql: str, *args: object) -> int:
    return int(await storage.fetchval(sql, *args))


async def test_new_accounts_per_node_are_rate_limited(storage: Storage) -> None:
    settings = TokenSettings(registrations=QuotaLimits(rate=0.5))  # a burst of 5, then one per 2 s
    accounts, _ = make_accounts(storage, Clock(), settings=settings)
    for _ in range(5):
        await accounts.register(fresh_email("burst"), PASSWORD)
    with pytest.raises(Overloaded) as refused:
        await accounts.register(fresh_email("burst"), PASSWORD)
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 2
    assert accounts.registrations.refused["node"] == 1
    # Invalid input is refused before the quota is asked: it costs nothing.
    with pytest.raises(Exception):
        await accounts.register("not an e-mail", PASSWORD)
    assert accounts.registrations.refused["node"] == 1
    assert await count(storage, "SELECT count(*) FROM users WHERE email LIKE 'burst%'") == 5


async def test_one_connection_has_at_most_two_password_checks_at_once(storage: Storage) -> None:
    accounts, _ = make_accounts(storage, Clock())
    email = fresh_email("pipelined")
    await accounts.register(email, PASSWORD)
    connection, other = Connection(), Connection()
    outcomes: list[str] = []
    release = trio.Event()
    real_run = accounts.hashes.run

    async def slow_run(fn, *args):  # type: ignore[no-untyped-def]
        await release.wait()  # the checks in progress stay in progress
        return await real_run(fn, *args)

    accounts.hashes.run = slow_run  # type: ignore[method-assign]

    async def login(owner: object) -> None:
        try:
            await accounts.login(email, "wrong password", owner=owner)
        except Overloaded:
            outcomes.append("overloaded")
        except Exception as exc:  # InvalidCredentials
            outcomes.append(type(exc).__name__)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(login, connection)
        nursery.start_soon(login, other)
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == ["overloaded"] * 3  # at once, before the login lock counts them
        release.set()
    assert sorted(outcomes) == ["InvalidCredentials"] * 3 + ["overloaded"] * 3


async def test_a_login_past_the_limit_ends_the_oldest(storage: Storage) -> None:
    clock = Clock()
    settings = attrs.evolve(TokenSettings(), max_families_per_user=3)
    accounts, revocations = make_accounts(storage, clock, settings=settings)
    email = fresh_email("many-devices")
    await accounts.register(email, PASSWORD)
    grants = []
    for _ in range(5):
        grants.append(await accounts.login(email, PASSWORD))
        clock.advance(1)
    assert [(f, r) for f, _, r in revocations.seen] == [(grants[0].family_id, SUPERSEDED_REASON),
                                                        (grants[1].family_id, SUPERSEDED_REASON)]
    for grant in grants[:2]:
        assert (await store.family(storage, grant.family_id))["revoked_at"] is not None
    for grant in grants[2:]:
        assert (await store.family(storage, grant.family_id))["revoked_at"] is None
    live = await count(storage, "SELECT count(*) FROM token_families WHERE user_id = $1 AND revoked_at IS NULL",
                       grants[0].user_id)
    assert live == 3


async def test_a_login_keeps_its_newest_refresh_tokens_only(storage: Storage) -> None:
    clock = Clock()
    settings = attrs.evolve(TokenSettings(), max_tokens_per_family=5, refresh_reuse_interval=0)
    accounts, _ = make_accounts(storage, clock, settings=settings)
    email = fresh_email("rotating")
    await accounts.register(email, PASSWORD)
    grant = await accounts.login(email, PASSWORD)
    spent = []
    for _ in range(12):
        clock.advance(1)
        spent.append(grant.refresh_token)
        grant = await accounts.refresh(grant.refresh_token)
    assert await count(storage, "SELECT count(*) FROM refresh_tokens WHERE family_id = $1", grant.family_id) <= 6
    # A recent spent token is still known: presenting it again is reuse, as before...
    # ...but one older than the kept ones is only unknown (the family lives on).
    with pytest.raises(AuthRequired):
        await accounts.refresh(spent[0])
    assert (await store.family(storage, grant.family_id))["revoked_at"] is None
    assert (await accounts.refresh(grant.refresh_token)).family_id == grant.family_id
