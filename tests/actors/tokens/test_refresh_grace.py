"""Refresh-token reuse grace over real storage (SQLite and PostgreSQL): within the
interval the direct predecessor of a family's newest refresh token answers the same
grant again (two tabs at once, a retry after a lost answer, another node); an older
token, a reuse after the interval, or any reuse with the interval 0 revokes the family.
The grant is kept sealed, never in clear."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from actors.errors import RefreshReuse, TokenRevoked
from actors.storage import Storage
from actors.tokens import store
from actors.tokens.accounts import Accounts, Grant, HashPool
from actors.tokens.crypto import JwtCodec, PasswordHasher, hash_refresh_token, new_refresh_token
from actors.tokens.grace import seal, unseal
from actors.tokens.settings import Clock, TokenSettings
from tests.services import aio_loop, pg_database, pg_url, raw_storage, storage, storage_url  # noqa: F401

PASSWORD = "correct horse battery staple"


# ------------------------------------------------------------------- the seal


def test_a_seal_opens_only_with_its_predecessor_to_the_successor() -> None:
    p, s, access = new_refresh_token(), new_refresh_token(), "eyJhbGciOi.eyJzdWIi.c2ln"
    sealed = seal(p, s, access)
    assert unseal(p, sealed, hash_refresh_token(s)) == (s, access)
    assert s not in sealed and access not in sealed and p not in sealed
    assert unseal(new_refresh_token(), sealed, hash_refresh_token(s)) is None  # another key
    assert unseal(p, sealed, hash_refresh_token(new_refresh_token())) is None  # another successor
    damaged = ("A" if sealed[0] != "A" else "B") + sealed[1:]
    assert unseal(p, damaged, hash_refresh_token(s)) is None
    assert unseal(p, "not base64!", hash_refresh_token(s)) is None
    assert unseal(p, "", hash_refresh_token(s)) is None
    assert seal(p, s, access) == sealed  # one key, one message: nothing random to store


# ---------------------------------------------------------------- with storage


def make(storage: Any, clock: Clock, interval: float = 30.0) -> Accounts:
    settings = TokenSettings(refresh_reuse_interval=interval)
    return Accounts(storage, JwtCodec(b"k" * 32, ttl=settings.access_ttl, clock=clock), settings, clock,
                    hashes=HashPool(PasswordHasher.for_tests(), threads=2, queue=8))


async def login_new(accounts: Accounts, email: str = "tab@example.com") -> Grant:
    await accounts.register(email, PASSWORD)
    return await accounts.login(email, PASSWORD)


class Barrier:
    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.all_here = trio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_here.set()
        with trio.fail_after(10):
            await self.all_here.wait()


class HeldStorage:
    """The storage, except that refreshes wait for each other at a barrier: on
    PostgreSQL after reading the token in their transactions (both read it unspent,
    then race to spend it), on SQLite, whose writers take turns, just before BEGIN."""

    def __init__(self, storage: Storage, barrier: Barrier) -> None:
        self._storage = storage
        self.barrier = barrier
        self.read: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    @asynccontextmanager
    async def transaction(self, **kw: Any) -> AsyncIterator[Any]:
        if self._storage.dialect == "sqlite":
            await self.barrier.wait()
        async with self._storage.transaction(**kw) as tx:
            yield _HeldTx(tx, self) if self._storage.dialect == "postgres" else tx


class _HeldTx:
    def __init__(self, tx: Any, held: HeldStorage) -> None:
        self._tx = tx
        self._held = held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        row = await self._tx.fetchrow(sql, *args)
        if "JOIN token_families" in sql:
            self._held.read.append(row["used_at"])
            await self._held.barrier.wait()
        return row


async def test_two_tabs_refreshing_at_once_both_get_the_same_grant(storage: Storage) -> None:
    clock = Clock()
    grant = await login_new(make(storage, clock))
    held = HeldStorage(storage, Barrier(2))
    accounts = make(held, clock)
    answers: list[Grant] = []

    async def tab() -> None:
        answers.append(await accounts.refresh(grant.refresh_token))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tab)
        nursery.start_soon(tab)
    assert held.barrier.arrived == 2
    if storage.dialect == "postgres":
        assert held.read == [None, None]  # both read the token unspent: a real race
    assert answers[0] == answers[1]
    assert answers[0].family_id == grant.family_id and answers[0].refresh_token != grant.refresh_token
    # The family lives on: one successor was stored, and it rotates.
    rows = await storage.fetch("SELECT used_at FROM refresh_tokens WHERE family_id = $1", grant.family_id)
    assert len(rows) == 2
    assert (await make(storage, clock).refresh(answers[0].refresh_token)).family_id == grant.family_id


async def test_a_retry_after_a_lost_answer_gets_the_same_grant_on_any_node(storage: Storage) -> None:
    clock = Clock()
    node_a, node_b = make(storage, clock), make(storage, clock)
    grant = await login_new(node_a)
    first = await node_a.refresh(grant.refresh_token)
    clock.advance(29)
    assert await node_a.refresh(grant.refresh_token) == first
    assert await node_b.refresh(grant.refresh_token) == first
    assert first.to_result() == (await node_b.refresh(grant.refresh_token)).to_result()
    node_a.codec.decode(first.access_token)
    # Rotating the successor ends the grace of its predecessor: it is older now.
    second = await node_b.refresh(first.refresh_token)
    with pytest.raises(RefreshReuse):
        await node_a.refresh(grant.refresh_token)
    with pytest.raises(TokenRevoked):
        await node_a.refresh(second.refresh_token)


async def test_an_older_token_revokes_the_family(storage: Storage) -> None:
    clock = Clock()
    accounts = make(storage, clock)
    grant = await login_new(accounts)
    first = await accounts.refresh(grant.refresh_token)
    second = await accounts.refresh(first.refresh_token)
    assert await accounts.refresh(first.refresh_token) == second  # the direct predecessor
    with pytest.raises(RefreshReuse):
        await accounts.refresh(grant.refresh_token)
    row = await store.family(storage, grant.family_id)
    assert row is not None and row["revoke_reason"] == "refresh_token_reuse"
    for token in (first.refresh_token, second.refresh_token):
        with pytest.raises((RefreshReuse, TokenRevoked)):
            await accounts.refresh(token)


@pytest.mark.parametrize(("interval", "wait"), [(30.0, 30.001), (0.0, 0.0)], ids=["after the window", "interval 0"])
async def test_a_reuse_outside_the_grace_revokes_the_family(
        storage: Storage, interval: float, wait: float) -> None:
    clock = Clock()
    accounts = make(storage, clock, interval)
    grant = await login_new(accounts)
    first = await accounts.refresh(grant.refresh_token)
    clock.advance(wait)
    with pytest.raises(RefreshReuse):
        await accounts.refresh(grant.refresh_token)
    with pytest.raises(TokenRevoked):
        await accounts.refresh(first.refresh_token)
    if interval == 0:  # nothing sealed without a grace
        assert await storage.fetchval("SELECT count(*) FROM refresh_tokens WHERE sealed IS NOT NULL") == 0


async def test_seals_never_hold_tokens_and_are_wiped(storage: Storage) -> None:
    clock = Clock()
    accounts = make(storage, clock)
    grant = await login_new(accounts)
    first = await accounts.refresh(grant.refresh_token)
    second = await accounts.refresh(first.refresh_token)
    rows = await storage.fetch("SELECT * FROM refresh_tokens WHERE family_id = $1", grant.family_id)
    text = repr(rows)
    for g in (grant, first, second):
        assert g.refresh_token not in text and g.access_token not in text
    # Only the newest token keeps a seal: spending a token wipes its own.
    assert sum(r["sealed"] is not None for r in rows) == 1
    now_ms = int(clock() * 1000)
    assert await store.wipe_seals(storage, now_ms - 30_000) == 0
    assert await store.wipe_seals(storage, now_ms + 1) == 1
    with pytest.raises(RefreshReuse):  # no seal, no grace
        await accounts.refresh(first.refresh_token)
