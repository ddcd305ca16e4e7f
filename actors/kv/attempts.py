"""Counting attempts as they are admitted, with an escalating lock: the policy, the
pure step, and the bounded in-process table. Redis runs the same step as a Lua script
(`redis_kv`), so every node sharing it counts one streak.

A streak of attempts for one key starts with its first attempt and lasts `window`.
Every admitted attempt counts, at once, before any work is done for it: concurrent and
pipelined attempts are counted one by one, atomically, so at most `limit` of them are
admitted in a streak before the lock. The attempt that reaches `limit` locks the key for
`base_lock`, and every later one admitted after a lock ends locks it again for twice as
long, up to `max_lock`. While locked, attempts are refused (not counted) with the time
left. `clear` ends the streak (a success).

Times are epoch milliseconds from the caller's clock, so nodes agree as far as their
clocks do, and tests pass values instead of sleeping.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

__all__ = ["Admission", "AttemptPolicy", "AttemptTable", "Attempts", "step"]


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value < 10**9:
        raise ValueError(f"{attribute.name} must be in (0, 1e9) seconds, got {value!r}")


@attrs.frozen
class AttemptPolicy:
    """At most `limit` attempts per streak of `window` seconds, then locked for
    `base_lock` seconds, doubling per further admitted attempt up to `max_lock`."""

    limit: int = attrs.field(default=5, validator=[attrs.validators.instance_of(int),
                                                   attrs.validators.in_(range(1, 10**6))])
    window: float = attrs.field(default=900.0, validator=_positive)
    base_lock: float = attrs.field(default=30.0, validator=_positive)
    max_lock: float = attrs.field(default=900.0, validator=_positive)

    def lock_ms(self, attempts: int) -> int:
        """How long `attempts` admitted attempts lock the key (0: not yet)."""
        if attempts < self.limit:
            return 0
        doublings = min(attempts - self.limit, 32)
        return int(min(self.max_lock, self.base_lock * 2**doublings) * 1000)


@attrs.frozen
class Attempts:
    """A key's streak: admitted attempts, when it began, when its lock ends (0: none)."""

    count: int
    first_ms: int
    locked_until_ms: int
    expires_ms: int  # when the record no longer matters: the streak and the lock ended


@attrs.frozen
class Admission:
    admitted: bool
    attempts: int  # admitted in this streak, this one included when admitted
    retry_after: float  # seconds until the lock ends (0 when admitted)


def step(state: Attempts | None, now_ms: int, policy: AttemptPolicy) -> tuple[Attempts, Admission]:
    """One attempt at `now_ms`: the key's new state and the answer."""
    if state is not None and state.locked_until_ms > now_ms:
        return state, Admission(False, state.count, (state.locked_until_ms - now_ms) / 1000)
    window_ms = int(policy.window * 1000)
    if state is None or state.first_ms + window_ms <= now_ms:
        count, first = 1, now_ms
    else:
        count, first = state.count + 1, state.first_ms
    lock = policy.lock_ms(count)
    locked_until = now_ms + lock if lock else 0
    new = Attempts(count, first, locked_until, max(first + window_ms, locked_until))
    return new, Admission(True, count, 0.0)


class AttemptTable:
    """Attempt streaks in memory, at most `max_entries` keys.

    When full, the least recently attempted unlocked key goes first; a locked key goes
    only when every key is locked. So a flood of fresh keys cannot push a lock out
    before it has pushed out every unlocked streak (each costs the flood one attempt).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._open: OrderedDict[str, Attempts] = OrderedDict()
        self._locked: OrderedDict[str, Attempts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open) + len(self._locked)

    def admit(self, key: str, policy: AttemptPolicy, now_ms: int) -> Admission:
        state = self._open.pop(key, None) or self._locked.pop(key, None)
        if state is not None and state.expires_ms <= now_ms:
            state = None
        state, admission = step(state, now_ms, policy)
        (self._locked if state.locked_until_ms > now_ms else self._open)[key] = state
        self._trim(now_ms)
        return admission

    def clear(self, key: str) -> None:
        self._open.pop(key, None)
        self._locked.pop(key, None)

    def _trim(self, now_ms: int) -> None:
        for table in (self._open, self._locked):
            # Oldest first by last attempt; dropping expired ones from the front keeps
            # the table near its live size without a scan.
            while table and next(iter(table.values())).expires_ms <= now_ms:
                table.popitem(last=False)
        while len(self) > self._max:
            (self._open or self._locked).popitem(last=False)
