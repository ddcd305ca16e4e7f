"""The assignment table: what answers `experiments.assign`, in memory, synchronously.

Like an Erlang ETS table owned by a process: the experiments actor owns it (fills it
at start, installs every definition change, drains its write-behind buffers), and any
task of the node may call `assign` on it, without an ask and without awaiting. In trio
a call with no await in it runs to its end before any other task runs, so its reads
and its writes (the buffers) need no lock. The table outlives actor incarnations, so
a restart of the actor loses neither buffered records nor cached answers.

`assign` answers from:

- the definition compiled to a bucket -> variant table and a table of *disputed*
  buckets (see `buckets`): where no definition ever gave another answer, the hash is
  the user's recorded answer, and a first answer is recorded write-behind;
- a bounded LRU cache of sticky answers (and of "outside, nothing recorded" answers at
  a revision, which a change of the experiment makes stale);
- the buffers of first assignments not yet written (`pending`, `inflight`).

Only a user in a disputed bucket with none of those gets `LookupNeeded`: the caller
reads the recorded variant from storage and calls `resolve`.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import attrs

from actors.errors import NotFound
from actors.experiments.assign import Assignment
from actors.experiments.buckets import (
    OUT,
    bucket_of,
    claims_of,
    decode_claims,
    disputed_buckets,
    variant_table,
)
from actors.experiments.model import Experiment
from actors.experiments.store import StoredExperiment

__all__ = ["AssignmentTable", "Live", "LookupNeeded", "stored_claims"]

Key = tuple[str, str]  # (experiment_id, user_id)
Row = tuple[str, str, str, int]  # (experiment_id, user_id, variant, assigned_at ms), as stored


@attrs.frozen
class LookupNeeded:
    """The user's recorded assignment, if any, must be read from storage first."""

    experiment_id: str
    user_id: str


def stored_claims(stored: StoredExperiment, table: bytes) -> list[int]:
    """The stored claims; for a row from before claims were kept, its definition's."""
    claims = decode_claims(stored.claims)
    if stored.experiment.active and not any(claims):
        claims = claims_of(table)
    return claims


class Live:
    """One experiment compiled for the hot path."""

    __slots__ = (
        "experiment", "revision", "table", "disputed", "disputed_count", "active",
        "seed_bytes", "names", "index", "answers", "out", "exposures", "sort_key",
    )

    def __init__(self, stored: StoredExperiment, exposures: list[int] | None = None) -> None:
        e = stored.experiment
        self.experiment = e
        self.revision = stored.revision
        self.table = variant_table(e)
        self.disputed = disputed_buckets(stored_claims(stored, self.table), self.table)
        self.disputed_count = sum(self.disputed)
        self.active = e.active
        self.seed_bytes = e.seed_bytes
        self.names = e.variant_names
        self.index = {name: i for i, name in enumerate(self.names)}
        # Answers are built once: the hot path allocates nothing but the cache key.
        self.answers = tuple(Assignment(name, True) for name in self.names)
        self.out = Assignment(self.names[0], False)
        # Exposures not yet written to storage, per variant index.
        self.exposures = exposures if exposures is not None else [0] * len(self.names)
        self.sort_key = (int(round(e.created_at * 1000)), e.id)


class AssignmentTable:
    """See the module docstring. `on_backlog` is called when enough first assignments
    wait to be written that a flush should not wait for its interval."""

    def __init__(
        self,
        *,
        cache_size: int = 200_000,
        max_pending: int = 500_000,
        flush_batch: int = 20_000,
        on_backlog: Callable[[], None] | None = None,
    ) -> None:
        self.cache_size = cache_size
        self.max_pending = max_pending
        self.flush_batch = flush_batch
        self.on_backlog = on_backlog
        self.live: dict[str, Live] = {}
        # Key -> variant index, or -1 - revision: "outside, nothing recorded" as of it.
        self.cache: OrderedDict[Key, int] = OrderedDict()
        self.pending: dict[Key, Row] = {}
        self.inflight: dict[Key, Row] = {}  # taken by a flush, not yet committed
        self.dropped = 0
        self.lookups = 0

    # ----------------------------------------------------------------- hot path

    def assign(self, experiment_id: str, user_id: str) -> Assignment | LookupNeeded:
        """The user's answer, counted as an exposure when inside the experiment; or
        `LookupNeeded`. Raises `NotFound` for an unknown experiment."""
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
        bucket = bucket_of(live.seed_bytes, user_id)
        if live.disputed[bucket]:
            held = self.pending.get(key) or self.inflight.get(key)
            if held is None:
                self.lookups += 1
                return LookupNeeded(experiment_id, user_id)
            return self._answer(live, key, live.index[held[2]], record=False)
        index = live.table[bucket]
        if index == OUT:
            return live.out
        return self._answer(live, key, index, record=True)

    def resolve(self, experiment_id: str, user_id: str, recorded: str | None) -> Assignment:
        """`assign` after a `LookupNeeded`, with the variant storage holds (or None)."""
        live = self.live.get(experiment_id)
        if live is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        if not live.active:
            return live.out
        key = (experiment_id, user_id)
        cached = self.cache.get(key)
        if cached is not None and cached >= 0:
            return self._answer(live, key, cached, record=False)
        held = self.pending.get(key) or self.inflight.get(key)
        if held is not None:
            recorded = held[2]
        if recorded is not None and recorded in live.index:
            return self._answer(live, key, live.index[recorded], record=False)
        index = live.table[bucket_of(live.seed_bytes, user_id)]
        if index == OUT:
            self._cache_put(key, -1 - live.revision)
            return live.out
        return self._answer(live, key, index, record=True)

    def _answer(self, live: Live, key: Key, index: int, *, record: bool) -> Assignment:
        live.exposures[index] += 1
        self._cache_put(key, index)
        if record:
            pending = self.pending
            # Buffered as the row storage writes: a flush passes the buffer as is.
            pending[key] = (key[0], key[1], live.names[index], int(time.time() * 1000))
            if len(pending) >= self.flush_batch and self.on_backlog is not None:
                self.on_backlog()
            if len(pending) > self.max_pending:
                # Storage has been failing for a while: keep memory bounded.
                del pending[next(iter(pending))]
                self.dropped += 1
        return live.answers[index]

    def _cache_put(self, key: Key, value: int) -> None:
        cache = self.cache
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    # -------------------------------------------------------------- definitions

    def install(self, stored: StoredExperiment) -> Live:
        """Serve `stored` from now on (its unwritten exposures carry over)."""
        old = self.live.get(stored.experiment.id)
        live = Live(stored, old.exposures if old is not None else None)
        self.live[stored.experiment.id] = live
        return live

    def install_if_newer(self, stored: StoredExperiment) -> bool:
        live = self.live.get(stored.experiment.id)
        if live is None or live.revision < stored.revision:
            self.install(stored)
            return True
        return False

    def experiments(self) -> list[Live]:
        """Every experiment, oldest first (created_at, id)."""
        return sorted(self.live.values(), key=lambda live: live.sort_key)

    # ------------------------------------------------------------- write-behind

    def take_pending(self) -> dict[Key, Row]:
        """Up to `flush_batch` first assignments to write, oldest first; they stay
        visible to `assign` as `inflight` until `done` or `give_back`."""
        pending = self.pending
        if len(pending) <= self.flush_batch:
            self.pending = {}
            taken = pending
        else:
            taken = {key: pending.pop(key) for key in list(itertools.islice(pending, self.flush_batch))}
        self.inflight = taken
        return taken

    def take_exposures(self) -> list[tuple[str, str, int]]:
        """Every unwritten exposure count as `(experiment_id, variant, delta)`, zeroed."""
        taken = []
        for experiment_id, live in self.live.items():
            if any(live.exposures):
                taken.extend((experiment_id, name, n) for name, n in zip(live.names, live.exposures) if n)
                live.exposures = [0] * len(live.names)
        return taken

    def done(self) -> None:
        """The taken batch is written."""
        self.inflight = {}

    def give_back(self, batch: dict[Key, Row], exposures: Iterable[tuple[str, str, int]]) -> None:
        """The taken batch could not be written: keep it for the next flush."""
        for key, value in batch.items():
            self.pending.setdefault(key, value)
        for experiment_id, name, n in exposures:
            live = self.live.get(experiment_id)
            if live is not None and name in live.index:
                live.exposures[live.index[name]] += n
        self.inflight = {}

    def unwritten_counts(self, experiment_id: str) -> dict[str, int]:
        live = self.live.get(experiment_id)
        return {} if live is None else dict(zip(live.names, live.exposures))

    def get(self, experiment_id: str) -> Experiment | None:
        live = self.live.get(experiment_id)
        return None if live is None else live.experiment
