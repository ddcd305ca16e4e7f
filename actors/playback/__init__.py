"""Playback: sessions, positions written behind, resume points and "continue watching".

`start(env, settings)` is the domain's entry (its actor's child spec and its facade,
`PlaybackDomain`); `model` and `rules` are the pure parts (resume and played rules),
`intake` where position updates land, `actor` the owner of sessions and positions,
`sync` the changes told to a user's other devices and to other nodes, `store` the SQL.
"""

from actors.playback.domain import PlaybackDomain, start

__all__ = ["PlaybackDomain", "start"]
