"""The search domain: an in-memory index of the catalog (query, autocomplete,
correction, synonyms, facets, content listing) and the actor that owns it.

`start(env)` is the domain's entry (its actor's child spec and its facade,
`SearchDomain`). The index is pure and synchronous (`SearchIndex`, built from
`documents`, `typos`, `readings`, `ranking`, `facets`, `autocomplete` and `listing`);
`actor.SearchActor` keeps one in step with storage and the other nodes.
"""

from actors.search.autocomplete import AUTOCOMPLETE_MAX, Suggestion
from actors.search.domain import SearchDomain, SearchPage, start
from actors.search.index import QueryResult, SearchIndex

__all__ = ["AUTOCOMPLETE_MAX", "QueryResult", "SearchDomain", "SearchIndex", "SearchPage", "Suggestion", "start"]
