"""The played and resume rules, row by row as the README's table gives them
(`rules.PLAYED_RULES`), applied through `Entry.reported` and `Entry.mark` as the actor does."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.playback.model import Entry
from actors.playback.rules import PLAYED_RULES, ResumeRules

RULES = ResumeRules()
HOUR = 3_600_000
README = Path(__file__).resolve().parents[3] / "README.md"

seq = iter(range(1, 1_000_000))


def fresh() -> Entry:
    return Entry(0, HOUR, 0, 0)


def report(entry: Entry, position_ms: int) -> Entry:
    entry.reported(position_ms, HOUR, entry.updated_at + 1, next(seq), RULES)
    return entry


def mark(entry: Entry, played: bool) -> Entry:
    entry.mark(played, entry.updated_at + 1)
    return entry


def played_before() -> Entry:
    return report(fresh(), HOUR - 100)


# Each row of PLAYED_RULES: how to reach "before", the event, and what a resume then
# says: (position_ms, offer_resume, completed, played).
SCENARIOS = [
    (fresh, lambda e: report(e, 60_000), (0, False, False, False)),
    (fresh, lambda e: report(e, HOUR // 2), (HOUR // 2, True, False, False)),
    (fresh, lambda e: report(e, HOUR - 500), (0, False, True, True)),
    (fresh, lambda e: mark(e, True), (0, False, True, True)),
    (played_before, lambda e: mark(e, False), (0, False, False, False)),
    (played_before, lambda e: report(e, HOUR // 3), (HOUR // 3, True, False, True)),
    (played_before, lambda e: report(e, HOUR * 95 // 100), (0, False, True, True)),
    (lambda: mark(played_before(), False), lambda e: report(e, HOUR - 10), (0, False, True, True)),
]


@pytest.mark.parametrize("row, scenario", list(zip(PLAYED_RULES, SCENARIOS)), ids=[r[1] for r in PLAYED_RULES])
def test_each_row_of_the_table(row: tuple[str, str, str], scenario: tuple) -> None:
    before, event, expected = scenario
    entry = event(before())
    state = entry.state(RULES)
    assert (state.position_ms, state.offer_resume, state.completed, state.played) == expected


def test_every_row_has_a_scenario_and_is_in_the_readme() -> None:
    assert len(SCENARIOS) == len(PLAYED_RULES)
    text = README.read_text()
    for before, event, after in PLAYED_RULES:
        assert f"| {before} | {event} | {after} |" in text


def test_played_survives_any_number_of_positions() -> None:
    entry = played_before()
    for position in (0, 10, HOUR // 2, 1000, HOUR // 10):
        report(entry, position)
        assert entry.state(RULES).played
    mark(entry, False)
    assert not entry.state(RULES).played and not entry.state(RULES).completed
    report(entry, HOUR // 2)
    assert not entry.state(RULES).played


def test_a_mark_is_later_than_what_the_node_knew() -> None:
    entry = report(fresh(), HOUR // 2)
    entry.updated_at = 10_000
    entry.mark(True, now_ms=5_000)  # the wall clock stepped back
    assert entry.updated_at == 10_001
