"""The login lock counts an attempt when it is admitted, before its password is
hashed: concurrent attempts past the limit are refused without being checked, over
real storage (SQLite and PostgreSQL) and with the lock in the in-process KV or Redis."""

from __future__ import annotations

import threading

import pytest
import trio

from actors.errors import InvalidCredentials, Overloaded
from actors.kv import KV, AttemptPolicy
from actors.storage import Storage
from actors.tokens.accounts import Accounts, HashPool
from actors.tokens.crypto import JwtCodec, PasswordHasher
from actors.tokens.settings import Clock, TokenSettings
from tests.services import (  # noqa: F401
    aio_loop, kv, pg_database, pg_url, raw_storage, redis_url, storage, storage_url)

PASSWORD = "correct horse battery staple"
POLICY = AttemptPolicy(limit=5, window=900, base_lock=30, max_lock=900)


class HeldHasher(PasswordHasher):
    """The test hasher, except that `verify` waits for `release` and counts calls."""

    def __init__(self) -> None:
        base = PasswordHasher.for_tests()
        self.__dict__.update(base.__dict__)
        self.release = threading.Event()
        self.checked = 0
        self._lock = threading.Lock()

    def verify(self, hashed: str, password: str) -> bool:
        with self._lock:
            self.checked += 1
        self.release.wait(30)
        return super().verify(hashed, password)

    def dummy_verify(self, password: str) -> bool:
        self.verify("", password)
        return False


async def test_pipelined_wrong_passwords_past_the_limit_are_refused_before_hashing(
        storage: Storage, kv: KV) -> None:  # noqa: F811
    clock = Clock()
    hasher = HeldHasher()
    settings = TokenSettings(throttle=POLICY)
    accounts = Accounts(storage, JwtCodec(b"k" * 32, clock=clock), settings, clock,
                        hashes=HashPool(hasher, threads=2, queue=64), kv=kv)
    email = f"target-{id(kv)}-{trio.current_time()}@example.com".replace(".", "", 1)
    await accounts.register(email, PASSWORD)
    hasher.checked = 0
    outcomes: list[object] = []

    async def attempt(n: int) -> None:
        try:
            await accounts.login(email, f"wrong guess {n}")
        except (InvalidCredentials, Overloaded) as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        for n in range(32):
            nursery.start_soon(attempt, n)
        # Every attempt is answered or waiting to be hashed before any hash ends.
        with trio.fail_after(10):
            while len(outcomes) < 27:
                await trio.sleep(0.01)
        hasher.release.set()
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    # (An attempt that read the clock a little before the one that locked, and reached
    # the KV after it, is told a few ms more.)
    assert len(refused) == 27 and all(29 < o.retry_after < 30.1 for o in refused)  # type: ignore[operator]
    assert sum(isinstance(o, InvalidCredentials) for o in outcomes) == 5
    assert hasher.checked == 5
    # Locked: even the right password is not checked until the lock ends.
    with pytest.raises(Overloaded):
        await accounts.login(email, PASSWORD)
    assert hasher.checked == 5
    clock.advance(30)
    assert (await accounts.login(email, PASSWORD)).user_id
