"""A session another node ended: refused here once told (the Redis notice), or once the
actor checks storage (after notices may have been lost); before either, storage refuses
a second stop and the positions taken meanwhile. Both dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from actors.errors import NotFound
from actors.playback.actor import PlaybackActor
from actors.playback.intake import PositionIntake
from actors.playback.messages import Adopt, EndedElsewhere, Flush, GetResume, Start, Stop
from actors.playback.model import PlaybackSettings
from actors.storage import Storage
from runtime import ChildSpec, Supervisor

HOUR = 3_600_000


@pytest.fixture
async def actor(nursery: trio.Nursery, storage: Storage) -> AsyncIterator[tuple[PositionIntake, object]]:
    intake = PositionIntake()
    supervisor = Supervisor("test", [ChildSpec("playback", lambda: PlaybackActor(storage, intake,
                                                                                 PlaybackSettings()))])
    await nursery.start(supervisor.run)
    yield intake, supervisor.ref("playback")
    await supervisor.stop()


async def end_in_storage(storage: Storage, session_id: str) -> None:
    """What another node's stop does to the session's row."""
    await storage.execute("DELETE FROM playback_sessions WHERE id = $1", session_id)


async def test_a_notice_ends_a_held_session(actor: tuple, storage: Storage) -> None:
    intake, ref = actor
    started = await ref.ask(Start("u1", "film", HOUR))
    sid = started.session_id
    intake.offer(intake.sessions[sid], 600_000)
    await end_in_storage(storage, sid)  # what the other node's stop wrote
    intake.end_elsewhere((sid,))
    await ref.tell(EndedElsewhere((sid,)))
    assert intake.lookup(sid, "u1") is None
    for msg in (Adopt(sid, "u1"), Stop("u1", sid, 900_000)):
        with pytest.raises(NotFound):
            await ref.ask(msg)
    assert (await ref.ask(GetResume("u1", "film", HOUR))).position_ms != 900_000


async def test_without_a_notice_the_check_against_storage_ends_it(actor: tuple, storage: Storage) -> None:
    intake, ref = actor
    kept = (await ref.ask(Start("u1", "film", HOUR))).session_id
    gone = (await ref.ask(Start("u1", "other", HOUR))).session_id
    await end_in_storage(storage, gone)
    await ref.tell(EndedElsewhere(()))  # notices may have been lost: check
    with trio.fail_after(10):
        while gone in intake.sessions:
            await trio.sleep(0.01)
    with pytest.raises(NotFound):
        await ref.ask(Stop("u1", gone))
    assert kept in intake.sessions
    assert (await ref.ask(Stop("u1", kept, 600_000))).position_ms == 600_000


@pytest.fixture
async def two_nodes(nursery: trio.Nursery, storage: Storage) -> AsyncIterator[list[tuple[PositionIntake, object]]]:
    """Two playback actors on one database that hear nothing of each other (no notice
    has arrived yet)."""
    nodes, supervisors = [], []
    for n in range(2):
        intake = PositionIntake()
        supervisor = Supervisor(f"node{n}", [ChildSpec("playback", lambda i=intake: PlaybackActor(
            storage, i, PlaybackSettings(flush_interval=0.05)))])
        await nursery.start(supervisor.run)
        supervisors.append(supervisor)
        nodes.append((intake, supervisor.ref("playback")))
    yield nodes
    for supervisor in supervisors:
        await supervisor.stop()


async def stored_position(storage: Storage, user: str, content: str) -> int:
    return int(await storage.fetchval(
        "SELECT position_ms FROM playback_positions WHERE user_id = $1 AND content_id = $2", user, content))


async def test_before_any_notice_storage_refuses_a_second_stop_and_late_positions(
        two_nodes: list, storage: Storage) -> None:
    (tv_intake, tv), (_, phone) = two_nodes
    sid = (await tv.ask(Start("u1", "film", HOUR, "tv"))).session_id
    tv_intake.offer(tv_intake.sessions[sid], 600_000)
    await phone.ask(Adopt(sid, "u1"))
    assert (await phone.ask(Stop("u1", sid, 1_200_000))).position_ms == 1_200_000
    # The tv's node has not heard: it takes a position, then a stop of the same session.
    tv_intake.offer(tv_intake.sessions[sid], 2_400_000)
    with pytest.raises(NotFound):
        await tv.ask(Stop("u1", sid, 3_000_000))
    assert sid not in tv_intake.sessions  # let go here too
    await tv.ask(Flush())
    assert await stored_position(storage, "u1", "film") == 1_200_000
    for node in (tv, phone):
        assert (await node.ask(GetResume("u1", "film", HOUR))).position_ms == 1_200_000
    with pytest.raises(NotFound):
        await tv.ask(Adopt(sid, "u1"))


async def test_a_late_position_flushed_before_the_notice_is_not_written(two_nodes: list, storage: Storage) -> None:
    (tv_intake, tv), (_, phone) = two_nodes
    sid = (await tv.ask(Start("u1", "film", HOUR, "tv"))).session_id
    await phone.ask(Adopt(sid, "u1"))
    assert (await phone.ask(Stop("u1", sid, 1_200_000))).position_ms == 1_200_000
    tv_intake.offer(tv_intake.sessions[sid], 2_400_000)
    assert await tv.ask(Flush()) == 1  # a batched write: the row is refused, the batch is not
    assert await stored_position(storage, "u1", "film") == 1_200_000
    assert (await tv.ask(GetResume("u1", "film", HOUR))).position_ms == 1_200_000
