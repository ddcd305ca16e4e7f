"""The search actor's index as the node's other tasks read it (`runtime.Shared` state).

`content.list` and `search.query` only read the index, and an ask of the search actor
(a mailbox round trip, two task switches and a timer) cost them more than the read. The
index is pure and synchronous, and everything runs in one trio thread, so a handler
may call it directly: a read runs to its end before any write.

What an ask gave for free is that a read sees every write this node made before it:
the catalog tells the search actor before it answers an upsert, and the mailbox is
first in, first out. A direct read keeps that through `behind`, the local writes told
to the actor and not yet applied (`SearchDomain.changed` counts one in, the actor
counts it out once applied): `fresh()` gives the index only while none is pending,
else the read asks as before. Writes of other nodes (re-read from storage), learned
corrections and synonyms (applied before their ask is answered) need no count. A
counted write lost with a mailbox closed for good leaves reads on the ask path: slower,
never stale.
"""

from __future__ import annotations

from actors.search.index import SearchIndex


class LiveIndex:
    """The index the search actor last built (None before its first build) and the
    local writes it has not applied yet."""

    __slots__ = ("index", "behind")

    def __init__(self) -> None:
        self.index: SearchIndex | None = None
        self.behind = 0

    def fresh(self) -> SearchIndex | None:
        """The index, if it holds every local write told to the actor so far."""
        return self.index if self.behind == 0 else None
