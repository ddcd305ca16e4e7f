"""Accounts over real storage (SQLite and PostgreSQL): registration, login and its
throttle, refresh rotation, reuse detection, expiry on an injected clock, the
concurrent-refresh race."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from actors.errors import (
    AuthRequired,
    Conflict,
    InvalidCredentials,
    InvalidParams,
    Overloaded,
    RefreshReuse,
    TokenRevoked,
)
from actors.storage import Storage
from actors.tokens import store
from actors.tokens.accounts import Accounts, Grant, HashPool, create_user
from actors.tokens.crypto import JwtCodec, PasswordHasher
from actors.tokens.settings import DAY, Clock, TokenSettings
from actors.kv import AttemptPolicy
from tests.services import aio_loop, pg_database, pg_url, raw_storage, storage, storage_url  # noqa: F401

PASSWORD = "correct horse battery staple"
TEST_HASHER = PasswordHasher.for_tests()


class Revocations:
    """Collects what Accounts reports as revoked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []

    async def __call__(self, family_id: str, at_ms: int, reason: str) -> None:
        self.seen.append((family_id, at_ms, reason))


def make_accounts(storage: Storage, clock: Clock, *, hasher: PasswordHasher = TEST_HASHER,
                  settings: TokenSettings | None = None) -> tuple[Accounts, Revocations]:
    settings = settings or TokenSettings()
    codec = JwtCodec(b"k" * 32, ttl=settings.access_ttl, clock=clock)
    revocations = Revocations()
    accounts = Accounts(storage, codec, settings, clock,
                        hashes=HashPool(hasher, threads=2, queue=8), on_revoked=revocations)
    return accounts, revocations


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(storage: Storage, clock: Clock) -> Accounts:
    return make_accounts(storage, clock)[0]


async def family_row(storage: Storage, family_id: str) -> dict:
    row = await store.family(storage, family_id)
    assert row is not None
    return row


# --------------------------------------------------------------------- accounts


async def test_register_then_login_and_profile(accounts: Accounts) -> None:
    user_id = await accounts.register("  Ann@Example.COM ", PASSWORD, "Ann")
    grant = await accounts.login("ann@example.com", PASSWORD)
    assert grant.user_id == user_id
    assert grant.family_id.startswith("f_") and len(grant.refresh_token) == 43
    claims = accounts.codec.decode(grant.access_token)
    assert (claims.sub, claims.fam, claims.roles) == (user_id, grant.family_id, ("user",))
    assert grant.to_result()["token_type"] == "Bearer"
    assert grant.to_result()["expires_in"] == 900

    profile = await accounts.profile(user_id)
    assert profile["email"] == "ann@example.com"
    assert profile["display_name"] == "Ann"
    assert profile["roles"] == ["user"]
    assert profile["created_at"].endswith("Z") and "T" in profile["created_at"]


async def test_register_refuses_duplicates_and_bad_input(accounts: Accounts) -> None:
    await accounts.register("bob@example.com", PASSWORD)
    with pytest.raises(Conflict):
        await accounts.register("BOB@example.com", "another password")
    with pytest.raises(InvalidParams) as info:
        await accounts.register("not-an-email", PASSWORD)
    assert info.value.errors[0]["field"] == "email"
    with pytest.raises(InvalidParams) as info:
        await accounts.register("carl@example.com", "short")
    assert info.value.errors[0]["field"] == "password"


async def test_create_user_makes_an_admin_that_can_log_in_at_once(storage: Storage, accounts: Accounts) -> None:
    user_id = await create_user(storage, email="root@example.com", password=PASSWORD, admin=True,
                                hasher=TEST_HASHER)
    grant = await accounts.login("root@example.com", PASSWORD)
    assert grant.user_id == user_id
    assert accounts.codec.decode(grant.access_token).roles == ("user", "admin")


async def test_the_password_hash_is_argon2id_never_the_password(storage: Storage, accounts: Accounts) -> None:
    await accounts.register("dee@example.com", PASSWORD)
    row = await store.user_by_email(storage, "dee@example.com")
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


# ------------------------------------------------------------------------ login


async def test_wrong_password_and_unknown_email_answer_alike(accounts: Accounts) -> None:
    await accounts.register("eve@example.com", PASSWORD)
    errors = []
    for email, password in [("eve@example.com", "wrong password"), ("nobody@example.com", PASSWORD),
                            ("not an email", PASSWORD)]:
        with pytest.raises(InvalidCredentials) as info:
            await accounts.login(email, password)
        errors.append((type(info.value), info.value.message))
    assert len(set(errors)) == 1


async def test_wrong_password_and_unknown_email_take_about_the_same_time(storage: Storage, clock: Clock) -> None:
    # Costly enough (tens of ms) that the Argon2 work dominates the database calls.
    hasher = PasswordHasher(time_cost=1, memory_cost=32 * 1024, parallelism=1)
    accounts, _ = make_accounts(storage, clock, hasher=hasher,
                                settings=TokenSettings(throttle=AttemptPolicy(limit=1000)))
    await create_user(storage, email="fay@example.com", password=PASSWORD, hasher=hasher)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(InvalidCredentials):
            await accounts.login(email, "wrong password")
        return time.perf_counter() - started

    known, unknown = [], []
    for _ in range(5):
        known.append(await timed("fay@example.com"))
        unknown.append(await timed("nobody@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, (known, unknown)


async def test_repeated_failures_are_throttled_then_released(storage: Storage, clock: Clock) -> None:
    policy = AttemptPolicy(limit=3, base_lock=30, max_lock=120, window=900)
    accounts, _ = make_accounts(storage, clock, settings=TokenSettings(throttle=policy))
    await accounts.register("gus@example.com", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await accounts.login("gus@example.com", "wrong password")
    # Locked: even the right password is refused, without being checked.
    with pytest.raises(Overloaded):
        await accounts.login("gus@example.com", PASSWORD)
    with pytest.raises(Overloaded):
        await accounts.login("GUS@example.com", PASSWORD)
    clock.advance(31)
    # One more failure doubles the lock.
    with pytest.raises(InvalidCredentials):
        await accounts.login("gus@example.com", "wrong again")
    clock.advance(31)
    with pytest.raises(Overloaded):
        await accounts.login("gus@example.com", PASSWORD)
    clock.advance(30)
    grant = await accounts.login("gus@example.com", PASSWORD)
    assert grant.user_id
    # The success cleared the streak: three more attempts before a lock.
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await accounts.login("gus@example.com", "wrong password")


async def test_unknown_emails_are_throttled_too(storage: Storage, clock: Clock) -> None:
    policy = AttemptPolicy(limit=2)
    accounts, _ = make_accounts(storage, clock, settings=TokenSettings(throttle=policy))
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await accounts.login("ghost@example.com", PASSWORD)
    with pytest.raises(Overloaded):
        await accounts.login("ghost@example.com", PASSWORD)


async def test_failures_older_than_the_window_are_forgotten(storage: Storage, clock: Clock) -> None:
    policy = AttemptPolicy(limit=3, window=60)
    accounts, _ = make_accounts(storage, clock, settings=TokenSettings(throttle=policy))
    await accounts.register("hal@example.com", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await accounts.login("hal@example.com", "wrong password")
    clock.advance(61)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await accounts.login("hal@example.com", "wrong password")
    assert (await accounts.login("hal@example.com", PASSWORD)).user_id


async def test_a_login_flood_is_refused_past_the_hash_queue(storage: Storage, clock: Clock) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=16 * 1024, parallelism=1)
    settings = TokenSettings(throttle=AttemptPolicy(limit=10_000))
    accounts, _ = make_accounts(storage, clock, hasher=hasher, settings=settings)
    accounts.hashes = HashPool(hasher, threads=1, queue=2)
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await accounts.login("flood@example.com", "wrong password")
        except Overloaded:
            outcomes.append("overloaded")
        except InvalidCredentials:
            outcomes.append("invalid")

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(attempt)
    assert outcomes.count("overloaded") >= 1
    assert outcomes.count("invalid") >= 3  # one running and two queued at least


# ---------------------------------------------------------------------- refresh


async def login_new(accounts: Accounts, email: str = "ivy@example.com") -> Grant:
    await accounts.register(email, PASSWORD)
    return await accounts.login(email, PASSWORD)


async def test_refresh_rotates_within_the_family(storage: Storage, accounts: Accounts) -> None:
    first = await login_new(accounts)
    second = await accounts.refresh(first.refresh_token)
    third = await accounts.refresh(second.refresh_token)
    assert first.family_id == second.family_id == third.family_id
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert len({first.access_token, second.access_token, third.access_token}) == 3
    assert accounts.codec.decode(third.access_token).fam == first.family_id
    rows = await storage.fetch(
        "SELECT token_hash, parent_hash, used_at FROM refresh_tokens WHERE family_id = $1 ORDER BY issued_at, used_at",
        first.family_id)
    assert len(rows) == 3
    # Stored as hashes only, chained by parent, all but the newest spent.
    stored = {r["token_hash"] for r in rows}
    assert not stored & {first.refresh_token, second.refresh_token, third.refresh_token}
    assert sum(r["used_at"] is None for r in rows) == 1
    assert sum(r["parent_hash"] is None for r in rows) == 1


async def test_reusing_a_spent_token_revokes_the_family_durably(storage: Storage, clock: Clock) -> None:
    # Without the reuse grace (tests/actors/tokens/test_refresh_grace.py has it).
    accounts, revocations = make_accounts(storage, clock, settings=TokenSettings(refresh_reuse_interval=0))
    first = await login_new(accounts)
    second = await accounts.refresh(first.refresh_token)
    with pytest.raises(RefreshReuse):
        await accounts.refresh(first.refresh_token)
    row = await family_row(storage, first.family_id)
    assert row["revoked_at"] is not None and row["revoke_reason"] == "refresh_token_reuse"
    assert [r[0] for r in revocations.seen] == [first.family_id]
    # The legitimate successor is dead too; the spent one keeps answering "reuse".
    with pytest.raises(TokenRevoked):
        await accounts.refresh(second.refresh_token)
    with pytest.raises(RefreshReuse):
        await accounts.refresh(first.refresh_token)
    assert len(revocations.seen) == 1
    # Another login of the same user is a new, live family.
    other = await accounts.login("ivy@example.com", PASSWORD)
    assert (await accounts.refresh(other.refresh_token)).family_id == other.family_id


async def test_unknown_and_malformed_refresh_tokens(accounts: Accounts) -> None:
    for token in ["x" * 43, "", "short", "y" * 500]:
        with pytest.raises(AuthRequired):
            await accounts.refresh(token)


async def test_refresh_token_idle_expiry(storage: Storage, clock: Clock) -> None:
    accounts, _ = make_accounts(storage, clock)
    grant = await login_new(accounts)
    clock.advance(7 * DAY - 60)
    grant = await accounts.refresh(grant.refresh_token)  # used in time: a fresh 7 days
    clock.advance(7 * DAY - 60)
    grant = await accounts.refresh(grant.refresh_token)
    clock.advance(7 * DAY + 1)
    with pytest.raises(AuthRequired):
        await accounts.refresh(grant.refresh_token)
    # An expired token is not spent: presenting it again is not "reuse".
    with pytest.raises(AuthRequired):
        await accounts.refresh(grant.refresh_token)
    assert (await family_row(storage, grant.family_id))["revoked_at"] is None


async def test_refresh_token_absolute_expiry(storage: Storage, clock: Clock) -> None:
    accounts, _ = make_accounts(storage, clock)
    grant = await login_new(accounts)
    for _ in range(4):  # 24 days, rotating every 6
        clock.advance(6 * DAY)
        grant = await accounts.refresh(grant.refresh_token)
    clock.advance(6 * DAY + 1)  # 30 days and a second after the login
    with pytest.raises(AuthRequired):
        await accounts.refresh(grant.refresh_token)


class BeginTogether:
    """The real storage, except that a transaction begins only once `parties` callers
    are waiting to begin one: every refresh is in flight at once. (Calls that ran one
    after another would never all arrive, and the test would fail at its deadline.)"""

    def __init__(self, inner: Storage, parties: int) -> None:
        self.inner = inner
        self.parties = parties
        self.arrived = 0
        self.all_in = trio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def transaction(self, **options: object) -> AsyncIterator[object]:
        self.arrived += 1
        if self.arrived == self.parties:
            self.all_in.set()
        await self.all_in.wait()
        async with self.inner.transaction(**options) as tx:  # type: ignore[arg-type]
            yield tx


async def test_concurrent_refreshes_with_one_token_exactly_one_wins(storage: Storage, clock: Clock) -> None:
    # Without the reuse grace (tests/actors/tokens/test_refresh_grace.py has it).
    settings = TokenSettings(refresh_reuse_interval=0)
    grant = await login_new(make_accounts(storage, clock, settings=settings)[0])
    accounts, revocations = make_accounts(BeginTogether(storage, 6), clock, settings=settings)  # type: ignore[arg-type]
    wins: list[Grant] = []
    reuses: list[RefreshReuse] = []

    async def attempt() -> None:
        try:
            wins.append(await accounts.refresh(grant.refresh_token))
        except RefreshReuse as exc:
            reuses.append(exc)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(attempt)
    assert len(wins) == 1
    assert len(reuses) == 5
    # The losers are a reuse: the family is revoked, so the winner's tokens die too.
    assert (await family_row(storage, grant.family_id))["revoked_at"] is not None
    assert {r[0] for r in revocations.seen} == {grant.family_id}
    rows = await storage.fetch("SELECT used_at FROM refresh_tokens WHERE family_id = $1", grant.family_id)
    assert len(rows) == 2  # the original and the winner's successor, nothing more


async def test_refresh_picks_up_role_changes(storage: Storage, accounts: Accounts) -> None:
    grant = await login_new(accounts)
    await storage.execute("UPDATE users SET roles = $2 WHERE id = $1", grant.user_id, '["user", "admin"]')
    fresh = await accounts.refresh(grant.refresh_token)
    assert accounts.codec.decode(fresh.access_token).roles == ("user", "admin")


async def test_housekeeping_queries(storage: Storage, clock: Clock) -> None:
    accounts, _ = make_accounts(storage, clock)
    grant = await login_new(accounts)
    with pytest.raises(InvalidCredentials):
        await accounts.login("ivy@example.com", "wrong password")
    now_ms = int(clock() * 1000)
    assert await store.purge_expired_families(storage, now_ms) == 0
    assert await store.purge_expired_families(storage, now_ms + int(31 * DAY * 1000)) == 1
    assert await storage.fetchval("SELECT count(*) FROM refresh_tokens WHERE family_id = $1", grant.family_id) == 0
