"""actors/playback/sync.py with values: what a node tells the others, and what it takes
from them (malformed parts dropped, never raised)."""

from __future__ import annotations

import orjson

from actors.playback import sync
from actors.playback.sync import Change, PlaybackSync


def change(user: str = "u1", content: str = "m1", position: int = 5, origin: str = "n1/1") -> Change:
    return Change(user, content, position, False, True, "tv", 1_700_000_000_000, origin)


class Listener:
    def __init__(self, users: set[str]) -> None:
        self.users = users
        self.heard: list[Change] = []

    def wants(self, user_id: str) -> bool:
        return user_id in self.users

    def deliver(self, c: Change) -> None:
        self.heard.append(c)


def test_a_change_round_trips_and_garbage_is_dropped() -> None:
    raw = sync.encode("n1", [change(), change("u2")], ["s1"])
    notice = orjson.loads(raw)
    assert notice["node"] == "n1"
    assert sync.decode(notice) == ([change(), change("u2")], ["s1"])
    bad_rows = [[1, 2], ["u", "m", "5", False, True, "d", 1, "o"], ["u", "m", 5, 0, True, "d", 1, "o"], None,
                change("u3").row()]
    assert sync.decode({"changes": bad_rows, "ended": ["s2", 7, None]}) == ([change("u3")], ["s2"])
    assert sync.decode({"changes": "x", "ended": {"a": 1}}) == ([], [])


def test_one_node_builds_changes_only_for_users_listened_to() -> None:
    node = PlaybackSync("n1", multi_node=False)
    assert not node.wanted("u1")
    listener = Listener({"u1"})
    node.listener = listener
    assert node.wanted("u1") and not node.wanted("u2")
    node.changed(change())
    node.ended_here(["s1"])
    assert listener.heard == [change()] and node.take() == ([], [])


def test_several_nodes_queue_the_latest_change_per_user_and_item() -> None:
    node = PlaybackSync("n1", multi_node=True)
    assert node.wanted("anyone")
    for position in range(10):
        node.changed(change(position=position))
    node.changed(change(content="m2"))
    node.ended_here(["s1", "s2"])
    changes, ended = node.take()
    assert changes == [change(position=9), change(content="m2")] and ended == ["s1", "s2"]
    assert node.take() == ([], [])


def test_other_nodes_changes_reach_the_listener_and_their_ended_sessions_the_actor() -> None:
    node = PlaybackSync("n1", multi_node=True)
    listener = Listener({"u1"})
    node.listener = listener
    ended: list[tuple[str, ...]] = []
    node.on_ended = ended.append
    node.from_elsewhere(orjson.loads(sync.encode("n2", [change("u1"), change("u9")], ["s7"])))
    assert listener.heard == [change("u1")] and ended == [("s7",)] and node.received == 2


def test_the_queue_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sync, "MAX_QUEUED", 3)
    node = PlaybackSync("n1", multi_node=True)
    for n in range(5):
        node.changed(change(content=f"m{n}"))
    node.changed(change(content="m0", position=99))  # a waiting key is still replaced
    changes, _ = node.take()
    assert [c.content_id for c in changes] == ["m0", "m1", "m2"] and changes[0].position_ms == 99
    assert node.dropped == 2
