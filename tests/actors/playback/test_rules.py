"""Resume rules (Jellyfin's defaults) as a table of cases, boundaries included."""

from __future__ import annotations

import pytest

from actors.playback.rules import ResumeDecision, ResumeRules

HOUR = 3_600_000  # ms
DEFAULT = ResumeRules()


@pytest.mark.parametrize(
    ("position_ms", "duration_ms", "resume_at", "offer", "completed"),
    [
        # start of an hour-long film
        (0, HOUR, 0, False, False),
        (1, HOUR, 0, False, False),
        (179_999, HOUR, 0, False, False),  # just under 5 %
        (180_000, HOUR, 180_000, True, False),  # exactly 5 %: offered
        (1_800_000, HOUR, 1_800_000, True, False),  # half way
        (3_240_000, HOUR, 3_240_000, True, False),  # exactly 90 %: still offered
        (3_240_001, HOUR, 0, False, True),  # past 90 %: finished
        (HOUR - 1000, HOUR, 0, False, True),  # in the last second
        (HOUR, HOUR, 0, False, True),  # at the end
        (HOUR + 5000, HOUR, 0, False, True),  # past the end (clamped)
        (-500, HOUR, 0, False, False),  # before the start (clamped)
        # content shorter than 300 s is never offered a resume...
        (150_000, 299_999, 0, False, False),
        (150_000, 299_000, 0, False, False),
        (150_000, 300_000, 150_000, True, False),  # ...300 s is long enough
        (14_950, 299_000, 0, False, False),  # under 5 % of short content
        # ...but it can still be finished
        (270_000, 299_000, 0, False, True),  # past 90 %
        (298_000, 299_000, 0, False, True),  # last second
        (4_000, 5_000, 0, False, True),  # 80 % of a 5 s clip is its last second
        (3_999, 5_000, 0, False, False),
        # duration unknown: no resume
        (60_000, 0, 0, False, False),
        (60_000, None, 0, False, False),
        (60_000, -1, 0, False, False),
    ],
)
def test_default_rules(
    position_ms: int, duration_ms: int | None, resume_at: int, offer: bool, completed: bool
) -> None:
    decision = DEFAULT.evaluate(position_ms, duration_ms)
    assert (decision.position_ms, decision.offer_resume, decision.completed) == (
        resume_at,
        offer,
        completed,
    )
    assert decision.offer_resume == (decision.position_ms > 0)


@pytest.mark.parametrize(
    ("position_ms", "duration_ms", "progress", "last_position_ms"),
    [
        (1_800_000, HOUR, 0.5, 1_800_000),
        (36_000, HOUR, 0.01, 36_000),  # under 5 %: kept for the record
        (150_000, 299_000, 150_000 / 299_000, 150_000),  # short content
        (3_500_000, HOUR, 1.0, 3_500_000),  # finished
        (HOUR + 1, HOUR, 1.0, HOUR),
        (-1, HOUR, 0.0, 0),
        (60_000, None, 0.0, 60_000),
    ],
)
def test_progress_and_recorded_position(
    position_ms: int, duration_ms: int | None, progress: float, last_position_ms: int
) -> None:
    decision = DEFAULT.evaluate(position_ms, duration_ms)
    assert decision.progress == pytest.approx(progress)
    assert decision.last_position_ms == last_position_ms


def test_a_full_decision() -> None:
    assert DEFAULT.evaluate(1_200_000, HOUR) == ResumeDecision(
        position_ms=1_200_000,
        offer_resume=True,
        completed=False,
        progress=1 / 3,
        last_position_ms=1_200_000,
    )


def test_defaults_are_jellyfins() -> None:
    assert (DEFAULT.min_resume_pct, DEFAULT.max_resume_pct, DEFAULT.min_resume_duration_s) == (
        5.0,
        90.0,
        300,
    )


@pytest.mark.parametrize(
    ("rules", "position_ms", "duration_ms", "resume_at", "completed"),
    [
        # The last second decides when the percentage cannot.
        (ResumeRules(max_resume_pct=100), HOUR - 1001, HOUR, HOUR - 1001, False),
        (ResumeRules(max_resume_pct=100), HOUR - 1000, HOUR, 0, True),
        (ResumeRules(max_resume_pct=100, end_margin_ms=0), HOUR - 1, HOUR, HOUR - 1, False),
        # Other thresholds.
        (ResumeRules(min_resume_pct=10), 300_000, HOUR, 0, False),
        (ResumeRules(min_resume_pct=0), 1, HOUR, 1, False),
        (ResumeRules(max_resume_pct=50), 1_800_001, HOUR, 0, True),
        (ResumeRules(min_resume_duration_s=0), 30_000, 60_000, 30_000, False),
        (ResumeRules(min_resume_duration_s=3600), 1_800_000, HOUR - 1, 0, False),
        (ResumeRules(min_resume_pct=2.5), 90_000, HOUR, 90_000, False),  # exactly 2.5 %
    ],
)
def test_configured_rules(
    rules: ResumeRules, position_ms: int, duration_ms: int, resume_at: int, completed: bool
) -> None:
    decision = rules.evaluate(position_ms, duration_ms)
    assert (decision.position_ms, decision.completed) == (resume_at, completed)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_resume_pct": -1},
        {"max_resume_pct": 101},
        {"min_resume_pct": 50, "max_resume_pct": 40},
        {"min_resume_duration_s": -1},
        {"end_margin_ms": -1},
    ],
)
def test_rules_reject_bad_thresholds(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ResumeRules(**kwargs)
