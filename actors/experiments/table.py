"""The assignment table: what answers `experiments.assign`, in memory, synchronously.

Like an Erlang ETS table owned by a process, it is kept beside the experiments actor
(a `runtime.Shared`): the actor fills it at start, installs every definition change
and drains its write-behind buffers, and any task of the node may call `assign` on it,
without an ask and without awaiting. In trio a call with no await in it runs to its end
before any other task runs, so its reads and writes need no lock. The table outlives
actor incarnations, so a restart loses neither buffered records nor cached answers.

`assign` answers from, in order:

- the answers users were given before (`AnswerCache`, cache.py);
- the definition compiled to a bucket -> variant table and a table of *disputed*
  buckets (see buckets.py): where no definition ever gave another answer, the hash is
  the user's recorded answer, and a first answer is recorded, written behind
  (`WriteBehind`, writes.py);
- the first assignments not written yet, which answer for their users.

Only a user in a disputed bucket with none of those gets `LookupNeeded`: the caller
reads the recorded variant from storage and calls `resolve` (`ExperimentsDomain.assign`
does both).

A first answer is recorded (a row, written behind) so that it sticks when weights or
coverage change later. Recording costs storage, and `experiments.assign` is open to
anyone with any user id (one anonymous connection naming fresh ids grew the database by
about 20 MB/s). So a first answer asked for by a caller the gateway cannot vouch for
(`owner` given: its connection; an anonymous caller, or a user naming another id) is
recorded only under `quota`: `RECORD_LIMITS` by default, per connection and per node.
Past it, it is answered alike but neither recorded nor cached (so that the user's own
first call later still records it): it is what the hash says, the same on every node,
until a weight or coverage change may move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from actors.errors import NotFound
from actors.experiments.buckets import (
    OUT,
    bucket_of,
    claims_of,
    decode_claims,
    disputed_buckets,
    variant_table,
)
from actors.experiments.cache import OUTSIDE, AnswerCache, Known
from actors.experiments.model import Experiment
from actors.quota import Quota, QuotaLimits
from actors.experiments.store import StoredExperiment
from actors.experiments.writes import Part, Unwritten, WriteBehind

__all__ = ["RECORD_LIMITS", "Assignment", "AssignmentTable", "Live", "LookupNeeded", "stored_claims"]

RECORD_LIMITS = QuotaLimits(rate=50.0, per_connection=100)
"""First answers recorded for callers not vouched for: 100 per connection, 50 a second
per node after a burst of 500."""


@attrs.frozen
class Assignment:
    """The answer for one user: which variant, and whether they are counted in."""

    variant: str
    in_experiment: bool


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
    """One experiment compiled for the hot path, with its users' cached answers
    (`known`), its unwritten first assignments and exposure counts, which carry over
    from the definition it replaces."""

    __slots__ = (
        "id", "experiment", "revision", "table", "disputed", "disputed_count", "active",
        "seed_bytes", "names", "index", "inside", "out", "sort_key", "known", "unwritten", "exposures",
    )

    def __init__(self, stored: StoredExperiment, known: Known, unwritten: Unwritten, exposures: list[int]) -> None:
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
        self.inside = tuple(Assignment(name, True) for name in self.names)
        self.out = Assignment(self.names[0], False)
        self.sort_key = (int(round(e.created_at * 1000)), e.id)
        self.known = known
        self.unwritten = unwritten
        self.exposures = exposures  # not yet written to storage, per variant index


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
        quota: Quota | None = None,
    ) -> None:
        self.quota = quota if quota is not None else Quota(RECORD_LIMITS)
        self.cache = AnswerCache(cache_size)
        self.writes = WriteBehind(flush_batch=flush_batch, max_pending=max_pending, on_backlog=on_backlog)
        self.live: dict[str, Live] = {}
        self.lookups = 0

    # ----------------------------------------------------------------- hot path

    def assign(self, experiment_id: str, user_id: str, owner: object = None) -> Assignment | LookupNeeded:
        """The user's answer, counted as an exposure when inside the experiment; or
        `LookupNeeded`. Raises `NotFound` for an unknown experiment. `owner`: the
        connection of a caller who is not vouched for (a first answer is then recorded
        only under the quota); None for one who is."""
        live = self.live.get(experiment_id)
        if live is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        if not live.active:
            return live.out
        known = self.cache.get(live.known, user_id)
        if known is not None:
            if known == OUTSIDE:
                return live.out
            live.exposures[known] += 1
            return live.inside[known]
        bucket = bucket_of(live.seed_bytes, user_id)
        if live.disputed[bucket]:
            held = live.unwritten.held(user_id)
            if held is None:
                self.lookups += 1
                return LookupNeeded(experiment_id, user_id)
            return self._answer(live, user_id, held, False)
        index = live.table[bucket]
        if index == OUT:
            return live.out
        return self._answer(live, user_id, index, True, owner)

    def resolve(self, experiment_id: str, user_id: str, recorded: str | None, owner: object = None) -> Assignment:
        """`assign` after a `LookupNeeded`, with the variant storage holds (or None)."""
        live = self.live.get(experiment_id)
        if live is None:
            raise NotFound(f"experiment {experiment_id!r} not found")
        if not live.active:
            return live.out
        known = self.cache.peek(live.known, user_id)
        if known is not None and known != OUTSIDE:
            return self._answer(live, user_id, known, False)
        held = live.unwritten.held(user_id)
        if held is not None:
            return self._answer(live, user_id, held, False)
        if recorded is not None and recorded in live.index:
            return self._answer(live, user_id, live.index[recorded], False)
        index = live.table[bucket_of(live.seed_bytes, user_id)]
        if index == OUT:
            self.cache.put(live.known, user_id, OUTSIDE)
            return live.out
        return self._answer(live, user_id, index, True, owner)

    def _answer(self, live: Live, user_id: str, index: int, first: bool, owner: object = None) -> Assignment:
        live.exposures[index] += 1
        if first:
            if owner is not None and not self.quota.take(owner):
                return live.inside[index]  # past the quota: given, not recorded, not cached
            self.writes.record(live.unwritten, user_id, index)
        self.cache.put(live.known, user_id, index)
        return live.inside[index]

    # ------------------------------------------------------------------ gauges

    def pending_count(self) -> int:
        return self.writes.pending_count()

    def unwritten_count(self) -> int:
        return self.writes.unwritten_count()

    def buffered_count(self) -> int:
        """First assignments storage does not hold yet."""
        return self.writes.count()

    def cached_count(self) -> int:
        return self.cache.count()

    def is_cached(self, experiment_id: str, user_id: str) -> bool:
        return self.cache.holds(self.live[experiment_id].known, user_id)

    # -------------------------------------------------------------- definitions

    def install(self, stored: StoredExperiment) -> Live:
        """Serve `stored` from now on (cached answers and unwritten records carry over)."""
        e = stored.experiment
        previous = self.live.get(e.id)
        if previous is None:
            live = Live(stored, self.cache.known(), self.writes.unwritten(e.id, e.variant_names),
                        [0] * len(e.variant_names))
        else:
            self.cache.forget_outside(previous.known)
            live = Live(stored, previous.known, previous.unwritten, previous.exposures)
        self.live[e.id] = live
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
        """Every first assignment not yet written, in parts, oldest first; they answer
        for their users until `written` confirms them (see writes.py)."""
        return self.writes.take()

    def take_exposures(self) -> list[tuple[str, str, int]]:
        """Every unwritten exposure count as `(experiment_id, variant, delta)`, zeroed."""
        taken: list[tuple[str, str, int]] = []
        for experiment_id, live in self.live.items():
            if any(live.exposures):
                taken.extend((experiment_id, name, n) for name, n in zip(live.names, live.exposures) if n)
                live.exposures = [0] * len(live.names)
        return taken

    def written(self, parts: Sequence[Part]) -> None:
        """Storage holds `parts` now."""
        self.writes.written(parts)

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
