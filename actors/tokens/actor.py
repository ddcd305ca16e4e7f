"""The tokens actor: owner of the revoked-family set and of spreading revocations.

A revocation is written to storage first (so it survives a restart), then added to
this node's set (so the very next request is refused), then published on the KV
channel, so every other node adds it within the pub/sub latency. Each node reloads
recent revocations from storage at start, after every reconnect of its
subscription (messages published meanwhile are lost), and every `fallback_poll`
seconds while the subscription is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import trio

from actors.errors import NotFound, storage_errors
from actors.kv import KV, Subscription
from actors.storage import Storage, StorageError
from actors.tokens import store
from actors.tokens.accounts import Accounts
from actors.tokens.guard import TokenGuard
from actors.tokens.messages import REVOCATIONS_CHANNEL, Revoke, Revoked
from actors.tokens.settings import TokenSettings, ms
from runtime import Actor

log = logging.getLogger("actors.tokens")

OnFamiliesRevoked = Callable[[Mapping[str, str]], None]
"""Told {family_id: reason} for families newly revoked on this node (to close the
connections they authenticated)."""

WATCH_INTERVAL = 0.25  # seconds between looks at the subscription's state


class TokensActor(Actor):
    def __init__(
        self,
        *,
        storage: Storage,
        kv: KV,
        guard: TokenGuard,
        accounts: Accounts,
        settings: TokenSettings,
        node_id: str,
        on_revoked: OnFamiliesRevoked | None = None,
    ) -> None:
        self.storage = storage
        self.kv = kv
        self.guard = guard
        self.accounts = accounts
        self.settings = settings
        self.node_id = node_id
        self.on_revoked = on_revoked
        self.reloads = 0

    async def started(self) -> None:
        await self.accounts.prepare()
        following = trio.Event()
        self.start_soon(self._follow, following)
        await following.wait()
        self.start_soon(self._housekeeping)
        if self.settings.refresh_reuse_interval > 0:
            self.start_soon(self._wipe_seals)

    async def receive(self, msg: object) -> Any:
        if isinstance(msg, Revoke):
            return await self._revoke(msg.family_id, msg.reason)
        if isinstance(msg, Revoked):
            self._apply({msg.family_id: (msg.revoked_at_ms, msg.reason)})
            await self._publish(msg.family_id, msg.revoked_at_ms, msg.reason)
            return msg.revoked_at_ms
        return await super().receive(msg)

    async def _revoke(self, family_id: str, reason: str) -> int:
        now_ms = ms(self.guard.clock())
        with storage_errors():
            if await store.revoke_family(self.storage, family_id, now_ms, reason):
                revoked_at = now_ms
            else:
                row = await store.family(self.storage, family_id)
                if row is None:
                    raise NotFound("Token family not found")
                revoked_at, reason = int(row["revoked_at"]), row["revoke_reason"] or reason
        log.info("token family %s revoked (%s)", family_id, reason,
                 extra={"event": "tokens.family_revoked", "family_id": family_id, "reason": reason})
        self._apply({family_id: (revoked_at, reason)})
        await self._publish(family_id, revoked_at, reason)
        return revoked_at

    def _apply(self, revocations: Mapping[str, tuple[int, str]]) -> None:
        """Add to the set; tell `on_revoked` about the families new to it."""
        revoked = self.guard.revoked
        fresh: dict[str, str] = {}
        for family_id, (at_ms, reason) in revocations.items():
            known = family_id in revoked
            if revoked.add(family_id, at_ms / 1000) and not known:
                fresh[family_id] = reason
        if fresh and self.on_revoked is not None:
            self.on_revoked(fresh)

    async def _publish(self, family_id: str, revoked_at_ms: int, reason: str) -> None:
        await self.kv.publish(REVOCATIONS_CHANNEL, orjson.dumps(
            {"family_id": family_id, "revoked_at": revoked_at_ms, "reason": reason, "node": self.node_id}))

    # ----------------------------------------------------------- other nodes

    async def _follow(self, following: trio.Event) -> None:
        async with self.kv.subscribe(REVOCATIONS_CHANNEL) as subscription:
            # Subscribed first, loaded second: nothing revoked in between is missed.
            await self._reload(strict=True)
            following.set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, subscription)
                async for raw in subscription:
                    self._on_message(raw)

    def _on_message(self, raw: bytes) -> None:
        try:
            doc = orjson.loads(raw)
            family_id, at_ms, reason = doc["family_id"], doc["revoked_at"], doc.get("reason") or "revoked"
            if not (isinstance(family_id, str) and type(at_ms) is int and isinstance(reason, str)):
                raise TypeError("bad field types")
            if at_ms < 0:
                raise TypeError("revoked_at before the epoch")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed revocation message: %s", exc,
                        extra={"event": "tokens.bad_revocation_message"})
            return
        # A time beyond now (another node's clock, or garbage) is held as now: the
        # revocation still counts, and is forgotten when it no longer matters.
        self._apply({family_id: (min(at_ms, ms(self.guard.clock())), reason)})

    async def _watch(self, subscription: Subscription) -> None:
        """Reload after a reconnect; poll storage while the subscription is down;
        forget revocations that no longer matter."""
        seen = subscription.reconnects
        last_poll = trio.current_time()
        while True:
            await trio.sleep(WATCH_INTERVAL)
            self.guard.revoked.prune()
            if subscription.reconnects != seen:
                seen = subscription.reconnects
                await self._reload()
                last_poll = trio.current_time()
            elif not subscription.connected and \
                    trio.current_time() - last_poll >= self.settings.fallback_poll:
                await self._reload()
                last_poll = trio.current_time()

    async def _reload(self, *, strict: bool = False) -> None:
        """Add every revocation recent enough to matter. With `strict`, a storage
        failure raises (a failed start); otherwise it is logged and retried later."""
        s = self.settings
        since = self.guard.clock() - (s.access_ttl + s.revocation_skew)
        try:
            rows = await store.revoked_since(self.storage, ms(since))
        except StorageError as exc:
            if strict:
                raise
            log.warning("cannot reload revocations: %s", exc, extra={"event": "tokens.reload_failed"})
            return
        self.reloads += 1
        self._apply({r["id"]: (int(r["revoked_at"]), r["revoke_reason"] or "revoked") for r in rows})

    # ---------------------------------------------------------- housekeeping

    async def _wipe_seals(self) -> None:
        """Forget the sealed grants of refresh tokens whose grace interval has passed,
        every interval (at least every second, at most every minute): then a stolen
        spent token and a copy of the database together open nothing."""
        interval = self.settings.refresh_reuse_interval
        while True:
            await trio.sleep(min(60.0, max(1.0, interval)))
            try:
                await store.wipe_seals(self.storage, ms(self.guard.clock() - interval))
            except StorageError as exc:
                log.warning("wiping refresh seals failed: %s", exc, extra={"event": "tokens.wipe_failed"})

    async def _housekeeping(self) -> None:
        s = self.settings
        while True:
            await trio.sleep(s.housekeeping_interval)
            self.guard.revoked.prune()
            now = self.guard.clock()
            try:
                families = await store.purge_expired_families(self.storage, ms(now))
            except StorageError as exc:
                log.warning("token housekeeping failed: %s", exc, extra={"event": "tokens.housekeeping_failed"})
                continue
            if families:
                log.info("purged %d expired token families", families,
                         extra={"event": "tokens.purged", "families": families})
