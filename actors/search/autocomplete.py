"""Autocomplete: title suggestions for what is being typed, through the same typo
machine and ranking rules as `search.query` (the last word a prefix unless the text
ends with a separator; earlier words whole, with typos).

A suggestion's score is 0.5..1 for a title matched without a typo, 0..0.5 with one;
within each half, higher is more popular (half way at popularity 1000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from actors.search.documents import popularity_score

if TYPE_CHECKING:
    from actors.search.index import SearchIndex

AUTOCOMPLETE_MAX = 50
POP_HALF = 3.0  # popularity score (decades) at which the popular half is half full


@attrs.frozen
class Suggestion:
    text: str
    score: float
    type: str = "title"
    content_id: str | None = None
    highlights: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "score": self.score, "type": self.type}
        if self.content_id is not None:
            d["content_id"] = self.content_id
        d["highlights"] = [{"start": s, "end": e} for s, e in self.highlights]
        return d


@attrs.frozen
class Suggestions:
    """An autocomplete answer: the suggestions, and what the first one's reading
    corrected (as `search.query` says it)."""

    items: list[Suggestion]
    corrected_query: str | None = None
    corrections: list[dict[str, str]] = attrs.field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"suggestions": [s.to_dict() for s in self.items], "corrected_query": self.corrected_query,
                "corrections": self.corrections}


def suggest(index: SearchIndex, q: str, limit: int = 10) -> Suggestions:
    """Up to `limit` (clamped to 1..AUTOCOMPLETE_MAX) suggestions, best first; an
    empty `q` gives the most popular titles."""
    limit = max(1, min(AUTOCOMPLETE_MAX, limit))
    result = index.query(q, limit=limit)
    out = []
    for item, typos, marks in zip(result.items, result.typos, result.highlights):
        exact = typos == 0
        p = popularity_score(item.popularity)
        share = p / (p + POP_HALF)
        out.append(Suggestion(
            text=item.title,
            score=round(0.5 * share + (0.5 if exact else 0.0), 6),
            type="title",
            content_id=item.id,
            highlights=tuple((h["start"], h["end"]) for h in marks),
        ))
    return Suggestions(out, result.corrected_query, result.corrections)

