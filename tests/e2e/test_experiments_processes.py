"""Assignments across real gateway processes: the same answers after a restart on the
same data dir (weights changed before it), and on two nodes sharing one PostgreSQL
and one Redis, before and after a weight change made on one of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from actors.storage import connect_storage
from tests.auth_helpers import create_user_cli, fresh_email, login
from tests.support import GatewayProcess, connect, start_nodes, stop

USERS = [f"user-{i:04d}" for i in range(400)]


async def assign_all(url: str, experiment_id: str, users: list[str], token: str) -> list[dict[str, Any]]:
    """Assigned by an admin connection, as a service assigning for its users: every first
    answer is recorded (an anonymous caller's only under a quota)."""
    async with connect(url, token) as client:
        return [await client.call("experiments.assign", {"experiment_id": experiment_id, "user_id": u})
                for u in users]


async def recorded(database_url: str, experiment_id: str, count: int) -> None:
    """Wait until `count` assignments of the experiment are in storage."""
    async with connect_storage(database_url, pool_size=1) as storage:
        with trio.fail_after(5):
            while await storage.fetchval(
                    "SELECT count(*) FROM experiment_assignments WHERE experiment_id = $1",
                    experiment_id) != count:
                await trio.sleep(0.02)


async def admin_login(url: str, *data_args: str) -> str:
    email = fresh_email("admin")
    create_user_cli(*data_args, email=email, admin=True)
    return (await login(url, email))["access_token"]


async def test_same_answers_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = GatewayProcess(data, "--rate-limit", "0")  # assign_all: many calls in a row on one connection
    try:
        token = await admin_login(first.url, "--data-dir", str(data))
        async with connect(first.url, token) as admin:
            await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
        before = await assign_all(first.url, "e", USERS, token)
    finally:
        # The assignments and exposures are still in the write-behind buffers: SIGTERM
        # flushes them.
        assert first.terminate() == 0
    second = GatewayProcess(data, "--rate-limit", "0")
    try:
        assert await assign_all(second.url, "e", USERS, token) == before
        async with connect(second.url, token) as admin:
            # New weights move whole buckets; the users already assigned stay put.
            await admin.call("experiments.update", {"id": "e", "variants": [
                {"name": "a", "weight": 9}, {"name": "b", "weight": 1}]})
            assert await assign_all(second.url, "e", USERS, token) == before
            stats = await admin.call("experiments.stats", {"id": "e"})
            assert stats["total"] == 3 * len(USERS)
            assert sum(stats["counts"].values()) == stats["total"]
    finally:
        stop(second)


async def test_two_nodes_give_the_same_answers(
        tmp_path: Path, pg_url: str, redis_url: str, aio_loop: object) -> None:
    a, b = start_nodes(tmp_path, "--database-url", pg_url, "--redis-url", redis_url, "--rate-limit", "0",
                       env={"JWT_SECRET": "experiments-two-nodes-secret"})
    try:
        token = await admin_login(a.url, "--database-url", pg_url)
        async with connect(a.url, token) as admin_a, connect(b.url, token) as admin_b:
            await admin_a.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b", "c"]})
            # Node b has it at once (a notice, or storage on a miss).
            assert (await admin_b.call("experiments.get", {"id": "e"}))["id"] == "e"
            on_a = await assign_all(a.url, "e", USERS[:200], token)
            on_b = await assign_all(b.url, "e", USERS[200:], token)
            assert await assign_all(b.url, "e", USERS[:200], token) == on_a
            assert await assign_all(a.url, "e", USERS[200:], token) == on_b

            await admin_a.call("experiments.update", {"id": "e", "variants": [
                {"name": "a", "weight": 8}, {"name": "b", "weight": 1}, {"name": "c", "weight": 1}]})
            with trio.fail_after(5):
                while (await admin_b.call("experiments.get", {"id": "e"}))["variants"][0]["weight"] != 0.8:
                    await trio.sleep(0.02)
            # b flushes what it assigned as soon as it hears of the change.
            await recorded(pg_url, "e", len(USERS))
            assert await assign_all(a.url, "e", USERS[200:], token) == on_b
            assert await assign_all(b.url, "e", USERS[:200], token) == on_a
            assert await assign_all(b.url, "e", USERS[200:], token) == on_b
            new_users = [f"new-{i}" for i in range(300)]
            fresh = await assign_all(b.url, "e", new_users, token)
            assert await assign_all(a.url, "e", new_users, token) == fresh
            assert sum(r["variant"] == "a" for r in fresh) > 180
    finally:
        stop(a, b)
