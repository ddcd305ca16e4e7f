"""The catalog: content items, stored, listed and kept in step with the search index.

`start(env)` is the domain's entry (its actor's child spec and its facade,
`CatalogDomain`); `model` is the content item and its validation, `store` the SQL,
`actor` the catalog actor, `demo` the deterministic demo catalog.
"""

from actors.catalog.domain import CatalogDomain, ItemIndex, start

__all__ = ["CatalogDomain", "ItemIndex", "start"]
