"""The transport's slow-reader check with values, tick by tick.

A connection that rarely gets anything (server push to a subscriber) must not be
closed because one write happened to be under way at the watchdog's tick after a quiet
period; a client that stops reading is still closed at the second tick of its stall."""

from __future__ import annotations

from protocol.transport import write_stalled


def ticks(states: list[tuple[bool, int]]) -> list[bool]:
    """The verdicts over successive ticks of (write under way, completed writes)."""
    seen, verdicts = -1, []
    for writing, writes in states:
        stalled, seen = write_stalled(writing, writes, seen)
        verdicts.append(stalled)
    return verdicts


def test_a_write_under_way_at_the_tick_after_a_quiet_period_is_no_stall() -> None:
    # quiet, quiet, a notification's write under way at this tick, then it completed
    assert ticks([(False, 3), (False, 3), (True, 3), (False, 4), (True, 5), (False, 6)]) == [False] * 6


def test_a_client_that_stops_reading_is_closed_at_the_second_tick_of_its_stall() -> None:
    assert ticks([(False, 3), (True, 3), (True, 3)]) == [False, False, True]


def test_writes_that_complete_between_ticks_are_progress() -> None:
    assert ticks([(True, 1), (True, 2), (True, 3), (True, 4)]) == [False] * 4
