"""Search: the in-memory index of the catalog, spelling correction, autocomplete.

`start(env)` is the domain's entry (its actor's child spec and its facade,
`SearchDomain`); the index is `index`, built and kept current by `actor`.
"""

from actors.search.domain import SearchDomain, SearchPage, start

__all__ = ["SearchDomain", "SearchPage", "start"]
