"""First assignments on their way to storage: the write-behind policy of the assignment
table.

Per experiment, `Unwritten` holds the first assignments made since the last flush took
them (`pending`: variant index by user id, in the order they came) and what flushes
took and storage has not confirmed yet (`parts`, oldest first). Until storage confirms
them they answer for their users (`held`), so a user assigned here is never asked for
twice, whatever storage is doing.

`WriteBehind` decides when a flush should not wait for its interval and what gives way
when storage fails for long: it asks for a flush (`on_backlog`) once `flush_batch` first
assignments wait, then again every `step` more while they still do; and it never holds
more than `max_pending`, dropping the oldest of the experiment being recorded, `step`
below the bound, so that the next check is `step` records away. Checking costs a count
over the experiments, so it runs only at those points, not on every record. A flush
stamps what it takes with the time it took it (so `assigned_at` is at most one flush
late, also for a batch retried after a storage failure) and builds the rows at C speed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat

import attrs

__all__ = ["Part", "Row", "Unwritten", "WriteBehind", "runs_of"]

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


def runs_of(parts: Iterable[Part]) -> Iterator[list[Row]]:
    """The rows of taken parts, as storage writes them (see `Part.runs`)."""
    return itertools.chain.from_iterable(part.runs() for part in parts)


class Unwritten:
    """One experiment's first assignments that storage does not hold yet."""

    __slots__ = ("experiment_id", "names", "pending", "parts")

    def __init__(self, experiment_id: str, names: tuple[str, ...]) -> None:
        self.experiment_id = experiment_id
        self.names = names  # variant names never change
        self.pending: dict[str, int] = {}
        self.parts: list[Part] = []

    def held(self, user_id: str) -> int | None:
        """The variant index of the user's first assignment if it is not written yet."""
        index = self.pending.get(user_id)
        if index is None:
            for part in self.parts:
                index = part.users.get(user_id)
                if index is not None:
                    break
        return index

    def count(self) -> int:
        return len(self.pending) + sum(len(part.users) for part in self.parts)


class WriteBehind:
    """See the module docstring."""

    def __init__(self, *, flush_batch: int, max_pending: int, on_backlog: Callable[[], None] | None = None) -> None:
        self.flush_batch = flush_batch
        self.max_pending = max_pending
        self.on_backlog = on_backlog
        self.step = max(1, flush_batch // 16)
        self.dropped = 0  # first assignments given up while storage failed (the actor logs and resets it)
        self._unwritten: list[Unwritten] = []
        self._until_check = min(flush_batch, max_pending + 1)  # records until `_check` runs

    def unwritten(self, experiment_id: str, names: tuple[str, ...]) -> Unwritten:
        """The buffers of a new experiment."""
        unwritten = Unwritten(experiment_id, names)
        self._unwritten.append(unwritten)
        return unwritten

    def record(self, unwritten: Unwritten, user_id: str, index: int) -> None:
        """A first assignment to write."""
        unwritten.pending[user_id] = index
        self._until_check -= 1
        if self._until_check <= 0:
            self._check(unwritten)

    def _check(self, recorded: Unwritten) -> None:
        count = self.count()
        if count >= self.flush_batch and self.on_backlog is not None:
            self.on_backlog()
        if count > self.max_pending:
            count -= self._drop_oldest(recorded, count - max(0, self.max_pending - self.step))
        # Next: at `flush_batch` buffered, every `step` while above it, never past the bound.
        self._until_check = min(max(self.flush_batch, count + self.step), self.max_pending + 1) - count

    def _reset(self) -> None:
        """After a flush took or storage confirmed a batch: check again once
        `flush_batch` wait, at the next record if as many still do."""
        self._until_check = min(self.flush_batch, self.max_pending + 1) - self.count()

    def _drop_oldest(self, unwritten: Unwritten, n: int) -> int:
        """Drop up to `n` of the oldest first assignments of `unwritten`; how many went.
        A whole part goes at once; keys are taken from the front in one pass (deleting
        them one `next(iter(...))` at a time rescans every hole left at the front)."""
        dropped = 0
        while dropped < n and unwritten.parts:
            users = unwritten.parts[0].users
            if len(users) <= n - dropped:
                dropped += len(users)
                del unwritten.parts[0]
            else:
                for key in list(itertools.islice(users, n - dropped)):
                    del users[key]
                dropped = n
        if dropped < n and unwritten.pending:
            for key in list(itertools.islice(unwritten.pending, n - dropped)):
                del unwritten.pending[key]
                dropped += 1
        self.dropped += dropped
        return dropped

    def take(self) -> list[Part]:
        """Every first assignment not yet written, in parts of at most `flush_batch`,
        oldest first. What was pending is stamped now; all of it stays `held` until
        `written` confirms it."""
        now = int(time.time() * 1000)
        for unwritten in self._unwritten:
            pending = unwritten.pending
            if not pending:
                continue
            unwritten.pending = {}
            if len(pending) <= self.flush_batch:
                chunks = [pending]
            else:
                items = iter(pending.items())
                chunks = [dict(itertools.islice(items, self.flush_batch))
                          for _ in range(0, len(pending), self.flush_batch)]
            unwritten.parts.extend(Part(unwritten.experiment_id, unwritten.names, now, chunk) for chunk in chunks)
        self._reset()
        return [part for unwritten in self._unwritten for part in unwritten.parts]

    def written(self, parts: Sequence[Part]) -> None:
        """Storage holds `parts` now."""
        done = set(parts)
        for unwritten in self._unwritten:
            if unwritten.parts:
                unwritten.parts = [part for part in unwritten.parts if part not in done]
        self._reset()

    def pending_count(self) -> int:
        return sum(len(unwritten.pending) for unwritten in self._unwritten)

    def unwritten_count(self) -> int:
        """First assignments taken by a flush and not yet confirmed."""
        return sum(len(part.users) for unwritten in self._unwritten for part in unwritten.parts)

    def count(self) -> int:
        """First assignments storage does not hold yet."""
        return self.pending_count() + self.unwritten_count()
