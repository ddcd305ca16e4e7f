"""The one-shot subcommands: migrate, create-user, import-catalog, demo-catalog."""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
import time
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, Iterator

import orjson
import trio

from actors.catalog import series, store
from actors.catalog.model import FIELDS, ContentItem
from actors.errors import DomainError, InvalidParams
from actors.storage import MigrationError, Storage, StorageError, connect_storage, migrate
from gateway.config import Config
from gateway.services import asyncio_bridge

log = logging.getLogger("gateway.cli")

IMPORT_BATCH = 1000


Command = Callable[[argparse.Namespace, Config, Storage], Awaitable[int]]


class CommandError(Exception):
    """A failure to report in one line, exit status 1."""


def run(args: argparse.Namespace, config: Config) -> int:
    command: Command | None = {
        "migrate": None,
        "create-user": cmd_create_user,
        "import-catalog": cmd_import_catalog,
        "demo-catalog": cmd_demo_catalog,
    }[args.command]
    failures: list[BaseException] = []
    try:
        return trio.run(_with_bridge, command, args, config)
    except* (CommandError, MigrationError, StorageError, DomainError) as group:
        failures.extend(leaves(group))
    for exc in failures:
        print(f"error: {_describe(exc)}", file=sys.stderr)
    return 1


def leaves(group: BaseExceptionGroup) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidParams):
        return "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc)


async def _with_bridge(command: Command | None, args: argparse.Namespace, config: Config) -> int:
    async with asyncio_bridge(config):
        async with connect_storage(config.effective_database_url, pool_size=2, timeout=60) as storage:
            # Every command works on an up-to-date schema; `migrate` only reports.
            applied = await migrate(storage)
            if command is None:  # migrate
                report_migrations(applied)
                return 0
            return await command(args, config, storage)


def report_migrations(applied: list[str]) -> None:
    for name in applied:
        print(f"applied {name}")
    print(f"{len(applied)} migration(s) applied" if applied else "database is up to date")


async def cmd_create_user(args: argparse.Namespace, config: Config, storage: Storage) -> int:
    from actors.tokens.accounts import create_user

    user_id = await create_user(storage, email=args.email, password=args.password,
                                display_name=args.display_name, admin=args.admin)
    print(orjson.dumps({"user_id": user_id}).decode())
    return 0


def read_catalog(path: Path, lines: list[int] | None = None) -> list[ContentItem]:
    """Every row of a JSON Lines or CSV file, validated; raises CommandError naming the
    lines. The line of each item is appended to `lines` when given."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    is_csv = path.suffix.lower() == ".csv" or (text.lstrip()[:1] not in ("{", ""))
    rows = _csv_rows(text) if is_csv else _jsonl_rows(text)
    items: list[ContentItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, str):
            problems.append(f"line {line}: {row}")
            continue
        try:
            item = ContentItem.from_dict(row)
        except InvalidParams as exc:
            problems.append(f"line {line}: " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors))
            continue
        if item.id in seen:
            problems.append(f"line {line}: id {item.id!r} already on line {seen[item.id]}")
            continue
        seen[item.id] = line
        items.append(item)
        if lines is not None:
            lines.append(line)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CommandError(f"{path}: {len(problems)} invalid row(s); nothing imported:\n  {shown}{more}")
    return items


def _jsonl_rows(text: str) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield n, f"not valid JSON ({exc})"


LIST_FIELDS = ("genres", "platforms")
INT_FIELDS = ("year", "duration_ms", "season", "episode")
FLOAT_FIELDS = ("rating", "popularity")


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in ("id", "title", "type", "year") if f not in (reader.fieldnames or [])]
    if missing:
        yield 1, f"CSV header lacks column(s) {', '.join(missing)} (columns: {', '.join(FIELDS)})"
        return
    for row in reader:
        line = reader.line_num
        out: dict[str, Any] = {}
        try:
            for key, value in row.items():
                if key is None or value is None or (value == "" and key not in ("id", "title")):
                    continue
                if key in LIST_FIELDS:
                    # "Drama|Comedy", or a JSON list
                    out[key] = orjson.loads(value) if value.startswith("[") else [v.strip() for v in value.split("|") if v.strip()]
                elif key in INT_FIELDS:
                    out[key] = int(value)
                elif key in FLOAT_FIELDS:
                    out[key] = float(value)
                else:
                    out[key] = value
        except (ValueError, orjson.JSONDecodeError) as exc:
            yield line, f"column {key!r}: {exc}"
            continue
        yield line, out


async def _import(storage: Storage, items: list[ContentItem], lines: list[int] | None = None) -> None:
    """Every item in one transaction, once each episode's series is found in the file or
    in the database (CommandError naming the lines otherwise)."""
    now = int(time.time() * 1000)
    async with storage.transaction() as tx:
        problems = await series.problems(tx, items)
        if problems:
            where = [f"line {lines[i]}" if lines else f"item {i + 1}" for i, _, _ in problems]
            shown = "\n  ".join(f"{w}: {field}: {message}" for w, (_, field, message) in zip(where[:20], problems))
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise CommandError(f"{len(problems)} invalid series link(s); nothing imported:\n  {shown}{more}")
        for start in range(0, len(items), IMPORT_BATCH):
            await store.upsert(tx, items[start:start + IMPORT_BATCH], now)


async def cmd_import_catalog(args: argparse.Namespace, config: Config, storage: Storage) -> int:
    lines: list[int] = []
    items = read_catalog(Path(args.file), lines)
    started = time.perf_counter()
    await _import(storage, items, lines)
    print(f"imported {len(items)} item(s) in {time.perf_counter() - started:.1f} s")
    return 0


async def cmd_demo_catalog(args: argparse.Namespace, config: Config, storage: Storage) -> int:
    from actors.catalog.demo import generate

    if args.titles < 1 or args.titles > 5_000_000:
        raise CommandError("--titles must be between 1 and 5,000,000")
    started = time.perf_counter()
    items = list(generate(args.titles, args.seed))
    await _import(storage, items)
    print(f"generated and imported {len(items)} title(s) (seed {args.seed}) in {time.perf_counter() - started:.1f} s")
    return 0
