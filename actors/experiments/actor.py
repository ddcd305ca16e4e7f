"""The experiments actor: owns the definitions and the `AssignmentTable` serving them.

- At start it loads every definition into the table. Create and update write storage
  first (the client is told "done" only once the definition is stored), then install
  the definition and publish a notice on `CHANNEL`; other nodes' actors re-read that
  experiment from storage. A full re-read every `resync_interval` covers lost notices.
- A helper task flushes the table's write-behind buffers (first assignments, exposure
  counts) at least every `flush_interval` seconds, at once when many wait or when an
  experiment changed (so other nodes find this node's records), and `stopping()`
  flushes what is left.
- Assignments are not messages: the table answers them in the caller's task
  (`ExperimentsDomain.assign`), without an ask.

What may be lost: at most the last `flush_interval` of exposures and first
assignments if the process dies without stopping. Across nodes, a user first assigned
on node A, whose record A has not written yet when a weight change reaches node B,
can get the new weights' answer on B: A writes its records as soon as it hears of the
change, so that window is about one pub/sub delivery.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import orjson
import trio

from actors.errors import Conflict, NotFound, TimedOut, storage_errors
from actors.experiments import store
from actors.experiments.buckets import BUCKETS, claims_of, encode_claims, merge_claims, variant_table
from actors.experiments.messages import (
    CHANNEL,
    CreateExperiment,
    Flush,
    GetExperiment,
    GetStats,
    ListExperiments,
    Reload,
    ReloadAll,
    UpdateExperiment,
)
from actors.experiments.model import Experiment, update_experiment
from actors.experiments.stats import SRM_P_THRESHOLD, chi_square_srm
from actors.experiments.store import StoredExperiment
from actors.experiments.table import AssignmentTable, Live, stored_claims
from actors.experiments.writes import Part, runs_of
from actors.kv import KV
from actors.kv.notices import MISSED, from_other_nodes
from actors.paging import OffsetPage, Page, Slice, keyset_slice
from actors.storage import Storage, StorageError, UniqueViolation
from runtime import Actor

__all__ = ["ExperimentsActor"]

log = logging.getLogger("actors.experiments")

UPDATE_ATTEMPTS = 5


def _now() -> float:
    """Seconds, at the millisecond storage keeps, so every node shows the same times."""
    return int(time.time() * 1000) / 1000


class ExperimentsActor(Actor):
    mailbox_size = 4096

    def __init__(
        self,
        storage: Storage,
        kv: KV,
        node_id: str,
        table: AssignmentTable | None = None,
        *,
        flush_interval: float = 1.0,
        resync_interval: float = 30.0,
    ) -> None:
        self.storage = storage
        self.kv = kv
        self.node_id = node_id
        self.table = table if table is not None else AssignmentTable()
        self.flush_interval = flush_interval
        self.resync_interval = resync_interval
        self._flush_lock = trio.Lock()
        self._flush_wanted = trio.Event()
        self._subscribed = trio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def started(self) -> None:
        self.table.writes.on_backlog = self._want_flush
        # Subscribe before loading, so no change between the two goes unnoticed.
        self.start_soon(self._listen)
        with trio.move_on_after(2.0):
            await self._subscribed.wait()
        with storage_errors():
            stored = await store.get_all(self.storage)
        for experiment in stored:
            self.table.install(experiment)
        log.info("loaded %d experiments", len(stored),
                 extra={"event": "experiments.loaded", "count": len(stored)})
        self.start_soon(self._flusher)
        self.start_soon(self._resync)

    async def stopping(self) -> None:
        try:
            await self._flush()
        except StorageError as exc:
            log.error("could not write %d assignments at stop: %s", self.table.buffered_count(), exc,
                      extra={"event": "experiments.flush_failed", "pending": self.table.buffered_count()})

    # ------------------------------------------------------------------- messages

    async def receive(self, msg: object) -> Any:
        kind = type(msg)
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

    # ---------------------------------------------------------------- definitions

    async def _get_live(self, experiment_id: str) -> Live:
        live = self.table.live.get(experiment_id)
        if live is None:
            # Perhaps created on another node a moment ago, its notice still on the way.
            with storage_errors():
                stored = await store.get(self.storage, experiment_id)
            if stored is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            self.table.install_if_newer(stored)
            live = self.table.live[experiment_id]
        return live

    def _list(self, page: Page) -> Slice[Experiment]:
        ordered = self.table.experiments()
        if isinstance(page, OffsetPage):
            chosen = ordered[page.offset : page.offset + page.page_size]
            return Slice([live.experiment for live in chosen], len(ordered))
        after = None if page.after is None else (int(page.after[0]), str(page.after[1]))  # type: ignore[call-overload]
        rest = ordered if after is None else [live for live in ordered if live.sort_key > after]
        found = keyset_slice(rest[: page.limit + 1], page, lambda live: live.sort_key)
        return Slice([live.experiment for live in found.items], next_key=found.next_key)

    async def _create(self, experiment: Experiment) -> Experiment:
        if experiment.id in self.table.live:
            raise Conflict(f"experiment {experiment.id!r} already exists")
        claims = claims_of(variant_table(experiment)) if experiment.active else [0] * BUCKETS
        stored = StoredExperiment(experiment, encode_claims(claims), 1)
        with storage_errors():
            try:
                await store.insert(self.storage, stored)
            except UniqueViolation:
                raise Conflict(f"experiment {experiment.id!r} already exists") from None
        self.table.install(stored)
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
            claims = stored_claims(current, variant_table(current.experiment))
            if experiment.active:
                claims = merge_claims(claims, variant_table(experiment))
            stored = StoredExperiment(experiment, encode_claims(claims), current.revision + 1)
            with storage_errors():
                written = await store.update(self.storage, stored, current.revision)
            if written:
                live = self.table.install(stored)
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
        # Changed on another node: let every node find what this one assigned so far.
        self._want_flush()
        with storage_errors():
            stored = await store.get(self.storage, experiment_id)
        if stored is not None:
            self.table.install_if_newer(stored)

    async def _reload_all(self) -> None:
        with storage_errors():
            every = await store.get_all(self.storage)
        for stored in every:
            self.table.install_if_newer(stored)

    # ---------------------------------------------------------------------- stats

    async def _stats(self, experiment_id: str) -> dict[str, Any]:
        live = await self._get_live(experiment_id)
        # Under the flush lock no batch is half-written: storage plus memory counts
        # each exposure exactly once.
        async with self._flush_lock:
            with storage_errors():
                persisted = await store.exposure_counts(self.storage, experiment_id)
            live = self.table.live[experiment_id]
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

    def _want_flush(self) -> None:
        self._flush_wanted.set()

    async def _flusher(self) -> None:
        while True:
            with trio.move_on_after(self.flush_interval):
                await self._flush_wanted.wait()
            self._flush_wanted = trio.Event()
            try:
                await self._flush()
            except StorageError as exc:
                log.warning("experiments flush failed (%d assignments kept): %s", self.table.buffered_count(), exc,
                            extra={"event": "experiments.flush_failed", "pending": self.table.buffered_count()})
                await trio.sleep(self.flush_interval)
            writes = self.table.writes
            if writes.dropped:
                log.warning("dropped %d unrecorded assignments while storage failed", writes.dropped,
                            extra={"event": "experiments.dropped", "count": writes.dropped})
                writes.dropped = 0

    async def _flush(self) -> None:
        """Write the buffered first assignments and exposure counts there were when
        called, about `flush_batch` assignments per transaction. On failure what was not
        written is kept and `StorageError` is raised."""
        table = self.table
        async with self._flush_lock:
            exposures = table.take_exposures()
            batches = list(_batches(table.take_pending(), table.writes.flush_batch))
            if exposures and not batches:
                batches = [[]]  # counts alone
            for batch in batches:
                try:
                    # Shielded: a batch is either written or kept, never counted twice;
                    # the storage timeout bounds it.
                    with trio.CancelScope(shield=True):
                        async with self.storage.transaction() as tx:
                            await store.record(tx, runs_of(batch), exposures)
                except BaseException:
                    table.give_back(exposures)
                    raise
                table.written(batch)
                exposures = []

    # ------------------------------------------------------------ other nodes

    async def _listen(self) -> None:
        async with self.kv.subscribe(CHANNEL) as notices:
            self._subscribed.set()
            async for notice in from_other_nodes(notices, self.node_id):
                if notice is MISSED:
                    await self.ref.tell(ReloadAll())
                elif "id" in notice:
                    await self.ref.tell(Reload(str(notice["id"])))
                else:
                    log.warning("ignored a malformed %s notice", CHANNEL)

    async def _resync(self) -> None:
        """A safety net for lost notices (pub/sub is at most once)."""
        while True:
            await trio.sleep(self.resync_interval)
            await self.ref.tell(ReloadAll())


def _batches(parts: list[Part], size: int) -> Iterator[list[Part]]:
    """`parts` in consecutive groups of about `size` rows."""
    batch: list[Part] = []
    rows = 0
    for part in parts:
        if batch and rows + len(part.users) > size:
            yield batch
            batch, rows = [], 0
        batch.append(part)
        rows += len(part.users)
    if batch:
        yield batch
