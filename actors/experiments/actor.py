"""The experiments actor: definitions in memory, assignments from memory, sticky.

State it owns:

- every experiment definition (loaded at start, changed by create/update here or on
  another node: a notice on `CHANNEL` makes it re-read that experiment from storage),
  each compiled to a bucket -> variant table and a table of *disputed* buckets (see
  `buckets`): where no definition ever gave another answer, the hash alone is the
  user's recorded answer;
- a bounded LRU cache of users' sticky answers (and of "out, not recorded" answers at
  a given revision);
- write-behind buffers: first assignments to record and exposure counts per variant,
  flushed by a helper task at least every `flush_interval` seconds, at once when an
  experiment changes (so other nodes read this node's records), and in `stopping()`.

An assignment touches memory only, except for a user in a disputed bucket whose answer
is not cached: then `Assign` answers `LookupNeeded` and the caller reads the recorded
variant from storage itself (`assign_user`), so the actor never waits on the database
for the hot path, and sends `ResolveAssign`.

What may be lost: at most the last `flush_interval` of exposures and first
assignments if the process dies without stopping. Across nodes, a user first assigned
on node A, whose record A has not flushed yet when a weight change reaches node B,
can get the new weights' answer on B: A flushes as soon as it hears of the change, so
that window is about one pub/sub delivery.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson
import trio

from actors.errors import Conflict, NotFound, TimedOut, storage_errors
from actors.experiments import store
from actors.experiments.assign import Assignment
from actors.experiments.buckets import (
    BUCKETS,
    OUT,
    bucket_of,
    claims_of,
    decode_claims,
    disputed_buckets,
    encode_claims,
    merge_claims,
    variant_table,
)
from actors.experiments.messages import (
    CHANNEL,
    Assign,
    AssignMany,
    CreateExperiment,
    Flush,
    GetExperiment,
    GetStats,
    ListExperiments,
    LookupNeeded,
    Reload,
    ReloadAll,
    ResolveAssign,
    UpdateExperiment,
)
from actors.experiments.model import Experiment, update_experiment
from actors.experiments.stats import SRM_P_THRESHOLD, chi_square_srm
from actors.experiments.store import StoredExperiment
from actors.kv import KV
from actors.paging import KeysetPage, OffsetPage
from actors.storage import Storage, StorageError, UniqueViolation
from runtime import Actor, ActorRef

__all__ = ["ExperimentsActor", "assign_user", "assign_users"]

log = logging.getLogger("actors.experiments")

UPDATE_ATTEMPTS = 5
FLUSH_BATCH = 20_000
LOOKUP_BATCH = 500


def _now() -> float:
    """Seconds, at the millisecond storage keeps, so every node shows the same times."""
    return int(time.time() * 1000) / 1000


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


class _Live:
    """One experiment as the hot path needs it."""

    __slots__ = (
        "experiment", "revision", "claims", "table", "disputed", "disputed_count", "active",
        "seed_state", "names", "index", "answers", "out", "exposures", "sort_key",
    )

    def __init__(self, stored: StoredExperiment, exposures: list[int] | None = None) -> None:
        e = stored.experiment
        self.experiment = e
        self.revision = stored.revision
        self.table = variant_table(e)
        self.claims = _claims(stored, self.table)
        self.disputed = disputed_buckets(self.claims, self.table)
        self.disputed_count = sum(self.disputed)
        self.active = e.active
        self.seed_state = e.seed_state
        self.names = e.variant_names
        self.index = {name: i for i, name in enumerate(self.names)}
        self.answers = tuple(Assignment(name, True) for name in self.names)
        self.out = Assignment(self.names[0], False)
        self.exposures = exposures if exposures is not None else [0] * len(self.names)
        self.sort_key = (_ms(e.created_at), e.id)


def _claims(stored: StoredExperiment, table: bytes) -> list[int]:
    claims = decode_claims(stored.claims)
    if stored.experiment.active and not any(claims):
        # A row written before claims were kept: its definition is the only one known.
        claims = claims_of(table)
    return claims


class ExperimentsActor(Actor):
    mailbox_size = 4096

    def __init__(
        self,
        storage: Storage,
        kv: KV,
        node_id: str,
        *,
        cache_size: int = 200_000,
        max_pending: int = 500_000,
        flush_interval: float = 1.0,
        resync_interval: float = 30.0,
    ) -> None:
        self.storage = storage
        self.kv = kv
        self.node_id = node_id
        self.cache_size = cache_size
        self.max_pending = max_pending
        self.flush_interval = flush_interval
        self.resync_interval = resync_interval
        self.live: dict[str, _Live] = {}
        # (experiment_id, user_id) -> variant index, or -1 - revision: "outside, nothing
        # recorded" as of that revision (stale once the experiment changes).
        self.cache: OrderedDict[tuple[str, str], int] = OrderedDict()
        # (experiment_id, user_id) -> (variant, assigned_at ms), not yet in storage.
        self.pending: dict[tuple[str, str], tuple[str, int]] = {}
        self.inflight: dict[tuple[str, str], tuple[str, int]] = {}
        self.dropped = 0
        self.lookups = 0
        self._flush_lock = trio.Lock()
        self._flush_wanted = trio.Event()
        self._subscribed = trio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def started(self) -> None:
        # Subscribe before loading, so no change between the two goes unnoticed.
        self.start_soon(self._listen)
        with trio.move_on_after(2.0):
            await self._subscribed.wait()
        with storage_errors():
            for stored in await store.get_all(self.storage):
                self._install(stored)
        log.info("loaded %d experiments", len(self.live),
                 extra={"event": "experiments.loaded", "count": len(self.live)})
        self.start_soon(self._flusher)
        self.start_soon(self._resync)

    async def stopping(self) -> None:
        try:
            await self._flush()
        except StorageError as exc:
            log.error("could not flush %d assignments at stop: %s", len(self.pending), exc,
                      extra={"event": "experiments.flush_failed", "pending": len(self.pending)})

    # ------------------------------------------------------------------- messages

    async def receive(self, msg: object) -> Any:
        kind = type(msg)
        if kind is Assign:
            return self._assign(msg.experiment_id, msg.user_id)  # type: ignore[attr-defined]
        if kind is AssignMany:
            assign = self._assign
            return tuple(assign(msg.experiment_id, u) for u in msg.user_ids)  # type: ignore[attr-defined]
        if kind is ResolveAssign:
            return self._resolve(msg)  # type: ignore[arg-type]
        if kind is GetExperiment:
            return (await self._get_live(msg.id)).experiment  # type: ignore[attr-defined]
        if kind is ListExperiments:
            return self._list(msg.page)  # type: ignore[attr-defined]
        if kind is CreateExperiment:
            return await self._create(msg.experiment)  # type: ignore[attr-defined]
        if kind is UpdateExperiment:
            return await self._update(msg)  # type: ignore[arg-type]
        if kind is GetStats:
            return await self._stats(msg.id)  # type: ignore[attr-defined]
        if kind is Flush:
            with storage_errors():
                return await self._flush()
        if kind is Reload:
            return await self._reload(msg.id)  # type: ignore[attr-defined]
        if kind is ReloadAll:
            return await self._reload_all()
        return await super().receive(msg)

    # ------------------------------------------------------------------- hot path

    def _assign(self, experiment_id: str, user_id: str) -> Assignment | LookupNeeded:
        live = self.live.get(experiment_id)
        if live is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        if not live.active:
            return live.out
        key = (experiment_id, user_id)
        cached = self.cache.get(key)
        if cached is not None:
            if cached >= 0:
                self.cache.move_to_end(key)
                live.exposures[cached] += 1
                return live.answers[cached]
            if cached == -1 - live.revision:
                return live.out
        bucket = bucket_of(live.seed_state, user_id)
        if live.disputed[bucket]:
            held = self.pending.get(key) or self.inflight.get(key)
            if held is None:
                self.lookups += 1
                return LookupNeeded(experiment_id, user_id)
            return self._answer(live, key, live.index[held[0]], record=False)
        index = live.table[bucket]
        if index == OUT:
            return live.out
        return self._answer(live, key, index, record=True)

    def _resolve(self, msg: ResolveAssign) -> Assignment:
        live = self.live.get(msg.experiment_id)
        if live is None:
            raise NotFound(f"experiment {msg.experiment_id!r} not found")
        if not live.active:
            return live.out
        key = (msg.experiment_id, msg.user_id)
        cached = self.cache.get(key)
        if cached is not None and cached >= 0:
            return self._answer(live, key, cached, record=False)
        held = self.pending.get(key) or self.inflight.get(key)
        recorded = held[0] if held is not None else msg.recorded
        if recorded is not None and recorded in live.index:
            return self._answer(live, key, live.index[recorded], record=False)
        index = live.table[bucket_of(live.seed_state, msg.user_id)]
        if index == OUT:
            self._cache_put(key, -1 - live.revision)
            return live.out
        return self._answer(live, key, index, record=True)

    def _answer(self, live: _Live, key: tuple[str, str], index: int, *, record: bool) -> Assignment:
        live.exposures[index] += 1
        self._cache_put(key, index)
        if record:
            self.pending[key] = (live.names[index], int(time.time() * 1000))
            if len(self.pending) >= FLUSH_BATCH:
                self._flush_wanted.set()
            if len(self.pending) > self.max_pending:
                # Storage has been failing for a while: keep memory bounded.
                del self.pending[next(iter(self.pending))]
                self.dropped += 1
        return live.answers[index]

    def _cache_put(self, key: tuple[str, str], value: int) -> None:
        cache = self.cache
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    # ---------------------------------------------------------------- definitions

    def _install(self, stored: StoredExperiment) -> _Live:
        old = self.live.get(stored.experiment.id)
        exposures = old.exposures if old is not None else None
        live = _Live(stored, exposures)
        self.live[stored.experiment.id] = live
        return live

    async def _get_live(self, experiment_id: str) -> _Live:
        live = self.live.get(experiment_id)
        if live is None:
            # Created on another node a moment ago, its notice still on the way.
            with storage_errors():
                stored = await store.get(self.storage, experiment_id)
            if stored is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            live = self._install(stored)
        return live

    def _list(self, page: OffsetPage | KeysetPage) -> tuple[list[Experiment], Any]:
        ordered = sorted(self.live.values(), key=lambda live: live.sort_key)
        if isinstance(page, OffsetPage):
            chosen = ordered[page.offset : page.offset + page.page_size]
            return [live.experiment for live in chosen], page.info(len(ordered))
        after = None if page.after is None else (int(page.after[0]), str(page.after[1]))
        rest = ordered if after is None else [live for live in ordered if live.sort_key > after]
        chosen = rest[: page.limit]
        next_key = chosen[-1].sort_key if len(rest) > page.limit else None
        return [live.experiment for live in chosen], next_key

    async def _create(self, experiment: Experiment) -> Experiment:
        if experiment.id in self.live:
            raise Conflict(f"experiment {experiment.id!r} already exists")
        table = variant_table(experiment)
        claims = claims_of(table) if experiment.active else [0] * BUCKETS
        stored = StoredExperiment(experiment, encode_claims(claims), 1)
        with storage_errors():
            try:
                await store.insert(self.storage, stored)
            except UniqueViolation:
                raise Conflict(f"experiment {experiment.id!r} already exists") from None
        self._install(stored)
        await self._announce(stored)
        log.info("created experiment %s", experiment.id,
                 extra={"event": "experiments.created", "experiment": experiment.id})
        return experiment

    async def _update(self, msg: UpdateExperiment) -> Experiment:
        # This node's first assignments go to storage before the new weights apply
        # anywhere, so every node can find them.
        with storage_errors():
            await self._flush()
        for _ in range(UPDATE_ATTEMPTS):
            with storage_errors():
                current = await store.get(self.storage, msg.id)
            if current is None:
                raise NotFound(f"experiment {msg.id!r} not found")
            experiment = update_experiment(current.experiment, msg.changes, _now())
            claims = _claims(current, variant_table(current.experiment))
            if experiment.active:
                claims = merge_claims(claims, variant_table(experiment))
            stored = StoredExperiment(experiment, encode_claims(claims), current.revision + 1)
            with storage_errors():
                written = await store.update(self.storage, stored, current.revision)
            if written:
                live = self._install(stored)
                await self._announce(stored)
                log.info("updated experiment %s (revision %d, %d disputed buckets)", msg.id,
                         stored.revision, live.disputed_count,
                         extra={"event": "experiments.updated", "experiment": msg.id,
                                "revision": stored.revision})
                return experiment
        raise TimedOut(f"experiment {msg.id!r} is being changed concurrently; retry")

    async def _announce(self, stored: StoredExperiment) -> None:
        notice = {"node": self.node_id, "id": stored.experiment.id, "revision": stored.revision}
        await self.kv.publish(CHANNEL, orjson.dumps(notice))

    async def _reload(self, experiment_id: str) -> None:
        with storage_errors():
            stored = await store.get(self.storage, experiment_id)
        if stored is not None:
            self._install_if_newer(stored)
        # Another node changed it: let it find what this node assigned so far.
        self._flush_wanted.set()

    async def _reload_all(self) -> None:
        with storage_errors():
            for stored in await store.get_all(self.storage):
                self._install_if_newer(stored)

    def _install_if_newer(self, stored: StoredExperiment) -> None:
        live = self.live.get(stored.experiment.id)
        if live is None or live.revision < stored.revision:
            self._install(stored)

    # ---------------------------------------------------------------------- stats

    async def _stats(self, experiment_id: str) -> dict[str, Any]:
        live = await self._get_live(experiment_id)
        # Under the flush lock no batch is half-written: storage + memory counts each
        # exposure exactly once.
        async with self._flush_lock:
            with storage_errors():
                persisted = await store.exposure_counts(self.storage, experiment_id)
            counts = [persisted.get(name, 0) + live.exposures[i] for i, name in enumerate(live.names)]
        weights = live.experiment.weights()
        statistic, p_value = chi_square_srm(counts, weights)
        total = sum(counts)
        return {
            "experiment_id": experiment_id,
            "counts": dict(zip(live.names, counts)),
            "total": total,
            "weights": dict(zip(live.names, weights)),
            "expected": {name: total * w for name, w in zip(live.names, weights)},
            "chi_square": statistic if math.isfinite(statistic) else None,
            "srm_p_value": p_value,
            "srm_detected": p_value < SRM_P_THRESHOLD,
            "srm_threshold": SRM_P_THRESHOLD,
        }

    # -------------------------------------------------------------- write-behind

    async def _flusher(self) -> None:
        while True:
            with trio.move_on_after(self.flush_interval):
                await self._flush_wanted.wait()
            self._flush_wanted = trio.Event()
            try:
                await self._flush()
            except StorageError as exc:
                log.warning("experiments flush failed (%d assignments kept): %s", len(self.pending), exc,
                            extra={"event": "experiments.flush_failed", "pending": len(self.pending)})
                await trio.sleep(self.flush_interval)
            if self.dropped:
                log.warning("dropped %d unrecorded assignments while storage failed", self.dropped,
                            extra={"event": "experiments.dropped", "count": self.dropped})
                self.dropped = 0

    async def _flush(self) -> None:
        """Write the buffered assignments and exposure counts, in batches. On failure
        what was taken goes back to the buffers and the `StorageError` is raised."""
        async with self._flush_lock:
            exposures = self._take_exposures()
            # What is buffered now, not what arrives meanwhile (that is the next flush's).
            batches = max(1, -(-len(self.pending) // FLUSH_BATCH))
            for _ in range(batches):
                if not (exposures or self.pending):
                    break
                batch = self._take_pending()
                self.inflight = batch
                try:
                    # Shielded: a batch is either written or given back, never half
                    # known; the storage timeout bounds it.
                    with trio.CancelScope(shield=True):
                        async with self.storage.transaction() as tx:
                            await store.record(
                                tx,
                                [(e, u, v, at) for (e, u), (v, at) in batch.items()],
                                exposures,
                            )
                except BaseException:
                    for key, value in batch.items():
                        self.pending.setdefault(key, value)
                    self._give_back_exposures(exposures)
                    raise
                finally:
                    self.inflight = {}
                exposures = []

    def _take_pending(self) -> dict[tuple[str, str], tuple[str, int]]:
        pending = self.pending
        if len(pending) <= FLUSH_BATCH:
            self.pending = {}
            return pending
        keys = list(itertools.islice(pending, FLUSH_BATCH))
        return {key: pending.pop(key) for key in keys}

    def _take_exposures(self) -> list[tuple[str, str, int]]:
        taken = []
        for experiment_id, live in self.live.items():
            if any(live.exposures):
                taken.extend((experiment_id, name, n) for name, n in zip(live.names, live.exposures) if n)
                live.exposures = [0] * len(live.names)
        return taken

    def _give_back_exposures(self, exposures: list[tuple[str, str, int]]) -> None:
        for experiment_id, name, n in exposures:
            live = self.live.get(experiment_id)
            if live is not None and name in live.index:
                live.exposures[live.index[name]] += n

    # ------------------------------------------------------------ other nodes

    async def _listen(self) -> None:
        async with self.kv.subscribe(CHANNEL) as notices:
            self._subscribed.set()
            reconnects = notices.reconnects
            async for raw in notices:
                if notices.reconnects != reconnects:
                    # Notices sent while disconnected are lost: re-read everything.
                    reconnects = notices.reconnects
                    await self.ref.tell(ReloadAll())
                try:
                    notice = orjson.loads(raw)
                    experiment_id, node = str(notice["id"]), notice.get("node")
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    log.warning("ignored a malformed %s notice", CHANNEL)
                    continue
                if node != self.node_id:
                    await self.ref.tell(Reload(experiment_id))

    async def _resync(self) -> None:
        """A safety net for lost notices (pub/sub is at most once)."""
        while True:
            await trio.sleep(self.resync_interval)
            await self.ref.tell(ReloadAll())


async def assign_user(ref: ActorRef, storage: Storage, experiment_id: str, user_id: str) -> Assignment:
    """Assign through the actor, reading the user's recorded variant from storage here,
    in the caller's task, when the actor needs it (`LookupNeeded`)."""
    answer = await ref.ask(Assign(experiment_id, user_id))
    if type(answer) is LookupNeeded:
        return await _look_up(ref, storage, experiment_id, user_id)
    return answer


async def _look_up(ref: ActorRef, storage: Storage, experiment_id: str, user_id: str) -> Assignment:
    with storage_errors():
        recorded = await store.recorded_variant(storage, experiment_id, user_id)
    return await ref.ask(ResolveAssign(experiment_id, user_id, recorded))


async def assign_users(
    ref: ActorRef, storage: Storage, experiment_id: str, user_ids: Sequence[str]
) -> list[Assignment]:
    """`assign_user` for many users in one ask; the users who need a look-up are read
    from storage together (`LOOKUP_BATCH` per query)."""
    answers = list(await ref.ask(AssignMany(experiment_id, tuple(user_ids))))
    waiting = [i for i, answer in enumerate(answers) if type(answer) is LookupNeeded]
    for start in range(0, len(waiting), LOOKUP_BATCH):
        chunk = waiting[start:start + LOOKUP_BATCH]
        with storage_errors():
            recorded = await store.recorded_variants(storage, experiment_id, [user_ids[i] for i in chunk])
        for i in chunk:
            user_id = user_ids[i]
            answers[i] = await ref.ask(ResolveAssign(experiment_id, user_id, recorded.get(user_id)))
    return answers
