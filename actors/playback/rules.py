"""When to offer a resume, and when an item counts as finished.

Jellyfin's rules and defaults, checked in Jellyfin's order:

1. duration unknown (None or <= 0): no resume, not finished;
2. under `min_resume_pct` watched: no resume (the viewer only sampled the start);
3. past `max_resume_pct`, or within the last `end_margin_ms` (one second): finished —
   resume position 0, `completed` true, out of continue watching;
4. content shorter than `min_resume_duration_s`: no resume;
5. otherwise: resume offered at the position.

Boundaries: exactly `min_resume_pct` is offered a resume, exactly `max_resume_pct` is
too (only *past* it is finished), content exactly `min_resume_duration_s` long is long
enough.

Two choices where Jellyfin differs or the rules are silent:

- Short content stopped between the thresholds is *not* marked finished (Jellyfin
  marks it played): `completed` means the viewer reached the end, whatever the length.
  It is still marked finished by rule 3.
- Whenever no resume is offered, `position_ms` is 0, so `offer_resume` is true exactly
  when `position_ms > 0`, and a client never sees a position it should ignore. What
  was actually reported (clamped to the item) stays in `last_position_ms`, and
  `progress` is computed from it.

Played state (`PLAYED_RULES`; `model.Entry.reported` and `Entry.mark` apply it) is the
flag a user sees as "watched", kept beside the resume point:

- finishing an item (rule 3) marks it played;
- `playback.mark_played {played: true}` sets completed and played and clears the
  resume point; `{played: false}` clears all three;
- replaying a played item keeps it played (a position past 5 % offers a resume again
  and `completed` follows the position) until it is finished again or marked unplayed:
  no position ever clears `played`.
"""

from __future__ import annotations

import attrs

__all__ = ["ResumeDecision", "ResumeRules"]


@attrs.frozen
class ResumeDecision:
    position_ms: int  # where to resume; 0 when no resume is offered
    offer_resume: bool
    completed: bool
    progress: float  # 0..1 of the item watched; 1.0 when completed
    last_position_ms: int  # the reported position, clamped to [0, duration]


def _non_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class ResumeRules:
    """Resume thresholds; the defaults are Jellyfin's."""

    min_resume_pct: float = attrs.field(default=5.0, validator=_non_negative)
    max_resume_pct: float = attrs.field(default=90.0, validator=_non_negative)
    min_resume_duration_s: float = attrs.field(default=300, validator=_non_negative)
    end_margin_ms: int = attrs.field(default=1000, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if not self.min_resume_pct <= self.max_resume_pct <= 100:
            raise ValueError("need 0 <= min_resume_pct <= max_resume_pct <= 100")

    def evaluate(self, position_ms: int, duration_ms: int | None) -> ResumeDecision:
        """Decide what a stop at `position_ms` into an item of `duration_ms` means."""
        if duration_ms is None or duration_ms <= 0:
            return ResumeDecision(0, False, False, 0.0, max(0, int(position_ms)))
        duration = int(duration_ms)
        position = min(max(0, int(position_ms)), duration)
        progress = position / duration
        # Compared as position * 100 against pct * duration, not as a quotient, so
        # that "exactly 5 %" is exact.
        scaled = position * 100
        if scaled < self.min_resume_pct * duration:
            return ResumeDecision(0, False, False, progress, position)
        if scaled > self.max_resume_pct * duration or position >= duration - self.end_margin_ms:
            return ResumeDecision(0, False, True, 1.0, position)
        if duration < self.min_resume_duration_s * 1000:
            return ResumeDecision(0, False, False, progress, position)
        return ResumeDecision(position, True, False, progress, position)


PLAYED_RULES: tuple[tuple[str, str, str], ...] = (
    ("never watched", "position reported before 5 %", "no resume, not completed, not played"),
    ("any", "position between 5 % and 90 % (item >= 5 min)", "resume offered there; played unchanged"),
    ("any", "position past 90 % or in the last second", "completed, no resume, played"),
    ("any", "mark_played played=true", "completed, no resume (position 0), played"),
    ("any", "mark_played played=false", "not completed, no resume (position 0), not played"),
    ("played", "replayed to a position between 5 % and 90 %", "resume offered there, not completed, still played"),
    ("played", "replayed past 90 %", "completed, no resume, played"),
    ("played, then marked unplayed", "replayed past 90 %", "completed, no resume, played again"),
)
"""The played and resume rules as the README's table shows them: (before, event, after).
tests/actors/playback/test_played_rules.py runs every row."""
