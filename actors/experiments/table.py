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
- a bounded cache of sticky answers (and of "outside, nothing recorded" answers at a
  revision, which a change of the experiment makes stale);
- the buffers of first assignments not yet written (`pending`, then `unwritten` from
  the moment a flush takes them until they are written).

Cache and buffers are kept per experiment and keyed by the user id the request
brought, so the hot path builds no key and no row: a first assignment costs two dict
inserts of a small int. A flush stamps what it takes with the time it took it (so
`assigned_at` is at most one flush late, also for a batch retried after a storage
failure) and builds the rows at C speed. The cache is two generations of plain dicts (`recent`,
`earlier`) rather than an exact LRU: an answer used since the last turn is in
`recent`, and when `recent` holds half the bound across experiments, every
`earlier` is dropped and `recent` takes its place. An answer used within the last
`cache_size / 2` insertions is always kept; at most `cache_size` are held.

Only a user in a disputed bucket with none of those gets `LookupNeeded`: the caller
reads the recorded variant from storage and calls `resolve`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat

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

__all__ = ["AssignmentTable", "Live", "LookupNeeded", "Part", "Row", "runs_of", "stored_claims"]

Row = tuple[str, str, str, int]  # (experiment_id, user_id, variant, assigned_at ms), as stored


@attrs.frozen(eq=False)
class Part:
    """First assignments of one experiment taken by a flush: variant index by user id,
    all stamped `assigned_at` (ms)."""

    experiment_id: str
    names: tuple[str, ...]
    assigned_at: int
    users: dict[str, int]

    def runs(self) -> Iterator[list[Row]]:
        """The rows, one run per variant, users in the order they came: within a run
        only the user id differs, which storage writes as one column of values."""
        for index, name in enumerate(self.names):
            users = compress(self.users.keys(), map(index.__eq__, self.users.values()))
            run = list(zip(repeat(self.experiment_id), users, repeat(name), repeat(self.assigned_at)))
            if run:
                yield run


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
    """One experiment compiled for the hot path, with its users' cached answers and
    unwritten records (carried over from the definition it replaces)."""

    __slots__ = (
        "id", "experiment", "revision", "table", "disputed", "disputed_count", "active",
        "seed_bytes", "names", "index", "answers", "out", "exposures", "sort_key",
        "recent", "earlier", "pending", "unwritten",
    )

    def __init__(self, stored: StoredExperiment, previous: "Live | None" = None) -> None:
        e = stored.experiment
        self.id = e.id
        self.experiment = e
        self.revision = stored.revision
        self.table = variant_table(e)
        self.disputed = disputed_buckets(stored_claims(stored, self.table), self.table)
        self.disputed_count = sum(self.disputed)
        self.active = e.active
        self.seed_bytes = e.seed_bytes
        self.names = e.variant_names
        self.index = {name: i for i, name in enumerate(self.names)}
        # Answers are built once: the hot path allocates nothing.
        self.answers = tuple(Assignment(name, True) for name in self.names)
        self.out = Assignment(self.names[0], False)
        self.sort_key = (int(round(e.created_at * 1000)), e.id)
        # Variant names never change, so neither do the indexes cached below.
        # User id -> variant index, or -1 - revision: "outside, nothing recorded" as of it.
        self.recent: dict[str, int] = {} if previous is None else previous.recent
        self.earlier: dict[str, int] = {} if previous is None else previous.earlier
        # First assignments (variant index by user id) since the last flush took them,
        # and what flushes took and storage has not confirmed, oldest first.
        self.pending: dict[str, int] = {} if previous is None else previous.pending
        self.unwritten: list[Part] = [] if previous is None else previous.unwritten
        # Exposures not yet written to storage, per variant index.
        self.exposures = [0] * len(self.names) if previous is None else previous.exposures

    def held(self, user_id: str) -> int | None:
        """The variant index of the user's first assignment if it is not written yet."""
        index = self.pending.get(user_id)
        if index is None:
            for part in self.unwritten:
                index = part.users.get(user_id)
                if index is not None:
                    break
        return index


def runs_of(parts: Iterable[Part]) -> Iterator[list[Row]]:
    """The rows of taken parts, as storage writes them (see `Part.runs`)."""
    return itertools.chain.from_iterable(part.runs() for part in parts)


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
        self._turn_at = max(1, cache_size // 2)
        self._recent_count = 0  # insertions into the `recent` dicts since the last turn
        # First assignments to record before `_backlog` runs: it runs at `flush_batch`
        # buffered, then while a backlog lasts every `_step` insertions (not on every
        # one), and always before `max_pending` is passed. A re-recorded user counts
        # too, so it runs early, never late.
        self._step = max(1, flush_batch // 16)
        self._unwritten_rows = 0  # first assignments in `unwritten` parts
        self._recount()
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
        cached = live.recent.get(user_id)
        if cached is None:
            cached = live.earlier.get(user_id)
            if cached is not None:
                self._remember(live, user_id, cached)
        if cached is not None:
            if cached >= 0:
                live.exposures[cached] += 1
                return live.answers[cached]
            if cached == -1 - live.revision:
                return live.out
        bucket = bucket_of(live.seed_bytes, user_id)
        if live.disputed[bucket]:
            held = live.held(user_id)
            if held is None:
                self.lookups += 1
                return LookupNeeded(experiment_id, user_id)
            return self._answer(live, user_id, held, False)
        index = live.table[bucket]
        if index == OUT:
            return live.out
        return self._answer(live, user_id, index, True)

    def resolve(self, experiment_id: str, user_id: str, recorded: str | None) -> Assignment:
        """`assign` after a `LookupNeeded`, with the variant storage holds (or None)."""
        live = self.live.get(experiment_id)
        if live is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        if not live.active:
            return live.out
        cached = live.recent.get(user_id)
        if cached is None:
            cached = live.earlier.get(user_id)
        if cached is not None and cached >= 0:
            return self._answer(live, user_id, cached, False)
        held = live.held(user_id)
        if held is not None:
            return self._answer(live, user_id, held, False)
        if recorded is not None and recorded in live.index:
            return self._answer(live, user_id, live.index[recorded], False)
        index = live.table[bucket_of(live.seed_bytes, user_id)]
        if index == OUT:
            self._remember(live, user_id, -1 - live.revision)
            return live.out
        return self._answer(live, user_id, index, True)

    def _answer(self, live: Live, user_id: str, index: int, record: bool) -> Assignment:
        live.exposures[index] += 1
        # `_remember`, inlined: this is every first assignment's path.
        live.recent[user_id] = index
        self._recent_count += 1
        if self._recent_count >= self._turn_at:
            self._turn()
        if record:
            live.pending[user_id] = index
            self._until_check -= 1
            if self._until_check <= 0:
                self._backlog(live)
        return live.answers[index]

    def _remember(self, live: Live, user_id: str, value: int) -> None:
        live.recent[user_id] = value
        self._recent_count += 1
        if self._recent_count >= self._turn_at:
            self._turn()

    def _turn(self) -> None:
        for live in self.live.values():
            live.earlier = live.recent
            live.recent = {}
        self._recent_count = 0

    def _backlog(self, live: Live) -> None:
        """Enough first assignments wait: ask for a flush, and past `max_pending` (storage
        has been failing for a while) drop the oldest of `live` to keep memory bounded,
        `_step` below the bound, so that the next check is `_step` insertions away."""
        count = self.buffered_count()
        if count >= self.flush_batch and self.on_backlog is not None:
            self.on_backlog()
        if count > self.max_pending:
            count -= self._drop_oldest(live, count - max(0, self.max_pending - self._step))
        self._until_check = self._until_next_check(count)

    def _until_next_check(self, count: int) -> int:
        """Insertions until `_backlog` runs again, with `count` buffered now."""
        return min(max(self.flush_batch, count + self._step), self.max_pending + 1) - count

    def _recount(self) -> None:
        """After a flush took or storage confirmed a batch: the next check comes when
        `flush_batch` are buffered again, on the next insertion if that many still are."""
        self._until_check = min(self.flush_batch, self.max_pending + 1) - self.buffered_count()

    def _drop_oldest(self, live: Live, n: int) -> int:
        """Drop up to `n` of `live`'s oldest unwritten first assignments; how many went.
        A whole part goes at once; keys are taken from the front in one pass (deleting
        them one `next(iter(...))` at a time rescans every hole left at the front)."""
        dropped = 0
        while dropped < n and live.unwritten:
            users = live.unwritten[0].users
            if len(users) <= n - dropped:
                dropped += len(users)
                self._unwritten_rows -= len(users)
                del live.unwritten[0]
            else:
                for key in list(itertools.islice(users, n - dropped)):
                    del users[key]
                self._unwritten_rows -= n - dropped
                dropped = n
        if dropped < n and live.pending:
            for key in list(itertools.islice(live.pending, n - dropped)):
                del live.pending[key]
                dropped += 1
        self.dropped += dropped
        return dropped

    # ------------------------------------------------------------------ gauges

    def pending_count(self) -> int:
        return sum(len(live.pending) for live in self.live.values())

    def buffered_count(self) -> int:
        """First assignments storage does not hold yet."""
        return self.pending_count() + self.unwritten_count()

    def unwritten_count(self) -> int:
        return self._unwritten_rows

    def cached_count(self) -> int:
        return sum(len(live.recent) + len(live.earlier) for live in self.live.values())

    def is_cached(self, experiment_id: str, user_id: str) -> bool:
        live = self.live[experiment_id]
        return user_id in live.recent or user_id in live.earlier

    # -------------------------------------------------------------- definitions

    def install(self, stored: StoredExperiment) -> Live:
        """Serve `stored` from now on (cached answers and unwritten records carry over)."""
        live = Live(stored, self.live.get(stored.experiment.id))
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

    def take_pending(self) -> list[Part]:
        """Every first assignment not yet written, in parts of at most `flush_batch`,
        oldest first. What was pending is stamped now; all of it stays visible to
        `assign` until `written` confirms it."""
        now = int(time.time() * 1000)
        for live in self.live.values():
            pending = live.pending
            if not pending:
                continue
            live.pending = {}
            if len(pending) <= self.flush_batch:
                chunks = [pending]
            else:
                items = iter(pending.items())
                chunks = [dict(itertools.islice(items, self.flush_batch))
                          for _ in range(0, len(pending), self.flush_batch)]
            live.unwritten.extend(Part(live.id, live.names, now, chunk) for chunk in chunks)
            self._unwritten_rows += len(pending)
        self._recount()
        return [part for live in self.live.values() for part in live.unwritten]

    def take_exposures(self) -> list[tuple[str, str, int]]:
        """Every unwritten exposure count as `(experiment_id, variant, delta)`, zeroed."""
        taken = []
        for experiment_id, live in self.live.items():
            if any(live.exposures):
                taken.extend((experiment_id, name, n) for name, n in zip(live.names, live.exposures) if n)
                live.exposures = [0] * len(live.names)
        return taken

    def written(self, parts: Sequence[Part]) -> None:
        """Storage holds `parts` now."""
        done = set(parts)
        for live in self.live.values():
            if live.unwritten:
                live.unwritten = [part for part in live.unwritten if part not in done]
        self._unwritten_rows = sum(len(part.users) for live in self.live.values() for part in live.unwritten)
        self._recount()

    def give_back(self, exposures: Iterable[tuple[str, str, int]]) -> None:
        """Exposure counts a flush could not write: count them again. (First
        assignments not written stay in `unwritten` for the next flush.)"""
        for experiment_id, name, n in exposures:
            live = self.live.get(experiment_id)
            if live is not None and name in live.index:
                live.exposures[live.index[name]] += n

    def unwritten_counts(self, experiment_id: str) -> dict[str, int]:
        live = self.live.get(experiment_id)
        return {} if live is None else dict(zip(live.names, live.exposures))

    def get(self, experiment_id: str) -> Experiment | None:
        live = self.live.get(experiment_id)
        return None if live is None else live.experiment
