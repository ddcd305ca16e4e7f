"""The answers users were given, kept for when they come back: the cache policy of the
assignment table.

Answers are kept per experiment (`Known`), keyed by the user id the request brought,
so the hot path builds no key. A value is the variant index the user was answered, or
`OUTSIDE`: outside coverage with nothing recorded, which only holds while the
definition it was worked out under does (`forget_outside` runs on every change).

The bound holds across experiments: at most `size` answers. Rather than an exact LRU,
each experiment has two generations of plain dicts, `recent` and `earlier`; an answer
used is put in `recent`, and once `size / 2` answers were put since the last turn,
every `earlier` is dropped and each `recent` takes its place. So an answer used within
the last `size / 2` puts is always kept, and a lookup is one or two dict reads.
"""

from __future__ import annotations

__all__ = ["OUTSIDE", "AnswerCache", "Known"]

OUTSIDE = -1
"""Cached for a user outside coverage with nothing recorded, under the current definition."""


class Known:
    """One experiment's cached answers: user id -> variant index or `OUTSIDE`."""

    __slots__ = ("recent", "earlier")

    def __init__(self) -> None:
        self.recent: dict[str, int] = {}
        self.earlier: dict[str, int] = {}


class AnswerCache:
    """At most `size` answers across experiments (see the module docstring)."""

    def __init__(self, size: int) -> None:
        self._turn_at = max(1, size // 2)
        self._put_since_turn = 0
        self._known: list[Known] = []

    def known(self) -> Known:
        """The answers of a new experiment."""
        known = Known()
        self._known.append(known)
        return known

    def get(self, known: Known, user_id: str) -> int | None:
        """The user's answer, kept for longer now that it was used; None if not held."""
        value = known.recent.get(user_id)
        if value is None:
            value = known.earlier.get(user_id)
            if value is not None:
                self.put(known, user_id, value)
        return value

    def peek(self, known: Known, user_id: str) -> int | None:
        """The user's answer without counting it as used."""
        value = known.recent.get(user_id)
        return known.earlier.get(user_id) if value is None else value

    def put(self, known: Known, user_id: str, value: int) -> None:
        known.recent[user_id] = value
        self._put_since_turn += 1
        if self._put_since_turn >= self._turn_at:
            for each in self._known:
                each.earlier = each.recent
                each.recent = {}
            self._put_since_turn = 0

    def forget_outside(self, known: Known) -> None:
        """The experiment's definition changed: an `OUTSIDE` worked out under the old
        one no longer holds (variant answers do: they were recorded)."""
        for generation in (known.recent, known.earlier):
            outside = [user for user, value in generation.items() if value == OUTSIDE]
            for user in outside:
                del generation[user]

    def holds(self, known: Known, user_id: str) -> bool:
        return user_id in known.recent or user_id in known.earlier

    def count(self) -> int:
        return sum(len(known.recent) + len(known.earlier) for known in self._known)
