"""Playback: sessions, positions written behind, resume points and "continue watching".

`start(env, settings)` is the domain's entry (its actor's child spec and its facade,
`PlaybackDomain`); `model` and `rules` are the pure parts, `intake` where position
updates land, `actor` the owner of sessions and positions, `store` the SQL.
"""

from actors.playback.domain import PlaybackDomain, start

__all__ = ["PlaybackDomain", "start"]
