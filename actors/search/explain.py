"""What an answer says about itself: the matched ranges of each title (highlights) and
what the top hit's reading changed in the query (corrections)."""

from __future__ import annotations

from actors.search import ranking
from actors.search.text import spans

Highlight = dict[str, int]
"""{start, end}: a range of a title in code points, end exclusive."""


def highlights(title: str, p: ranking.Plan, matches: list[ranking.Match | None]) -> list[Highlight]:
    """The ranges of `title` the plan's terms matched, merged where they touch; of a
    word matched by its beginning, the letters typed."""
    toks = spans(title)
    out = []
    for term, m in zip(p.terms, matches):
        if m is None or m.pos >= len(toks):
            continue
        word, origin = toks[m.pos]
        end = origin[-1] + 1
        if m.partial:  # the beginning the typed letters stand for
            typed = len(term.typed)
            end = origin[min(len(origin), max(1, typed)) - 1] + 1
        out.append({"start": origin[0], "end": end})
    out.sort(key=lambda h: h["start"])
    merged: list[Highlight] = []
    for h in out:
        if merged and h["start"] <= merged[-1]["end"]:
            merged[-1]["end"] = max(merged[-1]["end"], h["end"])
        else:
            merged.append(h)
    return merged


def corrections(p: ranking.Plan, matches: list[ranking.Match | None]) -> tuple[str | None, list[dict[str, str]]]:
    """(the corrected query, [{from, to}]) of a title's reading: the learned corrections
    applied and each typed word matched with typos; (None, []) when nothing changed."""
    reading = p.reading
    out = [{"from": a, "to": b} for a, b in reading.learned]
    words = list(reading.tokens)
    for i, m in enumerate(matches):
        typed = reading.typed[i]
        # (a word being typed, matched by a beginning with a slip: nothing whole to name)
        if m is None or typed is None or m.typos == 0 or m.partial:
            continue
        out.append({"from": typed, "to": m.word})
        words[i] = m.word
    if not out:
        return None, []
    return " ".join(words), out
