"""The command line: serve, migrate, create-user, import-catalog, demo-catalog, call, docs.

Every option of `serve` is also an environment variable (the README's table); the
other subcommands read the same options, so they act on the database `serve` uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import trio

from gateway.config import Config
from gateway.version import VERSION

if TYPE_CHECKING:
    from gateway.workers.link import WorkerLink

SUBCOMMANDS = ("serve", "migrate", "create-user", "import-catalog", "demo-catalog", "call", "docs")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=_env("MG_DATA_DIR", "./data"), help="data directory (env MG_DATA_DIR)")
    p.add_argument("--database-url", default=_env("DATABASE_URL"),
                   help="sqlite:///PATH or postgresql://... (env DATABASE_URL; default sqlite under --data-dir)")
    p.add_argument("--redis-url", default=_env("REDIS_URL"), help="redis://... (env REDIS_URL; default in-process)")
    p.add_argument("--log-level", type=str.lower, default=_env("MG_LOG_LEVEL", "info"),
                   choices=["debug", "info", "warning", "error"], help="env MG_LOG_LEVEL")
    p.add_argument("--log-format", type=str.lower, default=_env("MG_LOG_FORMAT", "text"), choices=["text", "json"],
                   help="env MG_LOG_FORMAT")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Media gateway: JSON-RPC 2.0 over WebSocket")
    parser.add_argument("--version", action="version", version=f"media-gateway {VERSION}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the gateway (default)")
    _add_common(serve)
    # String defaults go through `type` like typed input, so a bad MG_PORT=abc is an
    # argparse error naming the option, not a traceback.
    serve.add_argument("--host", default=_env("MG_HOST", "127.0.0.1"), help="env MG_HOST")
    serve.add_argument("--port", type=_port, default=_env("MG_PORT", "8080"),
                       help="WebSocket port, 0 picks one (env MG_PORT)")
    serve.add_argument("--admin-port", type=_port, default=_env("MG_ADMIN_PORT", "8081"),
                       help="HTTP health/metrics port, 0 picks one (env MG_ADMIN_PORT)")
    serve.add_argument("--admin-host", default=_env("MG_ADMIN_HOST", "127.0.0.1"),
                       help="address of the admin port, whatever --host is (env MG_ADMIN_HOST)")
    serve.add_argument("--jwt-secret", default=_env("JWT_SECRET"), help="env JWT_SECRET; default generated into the data dir")
    serve.add_argument("--shutdown-timeout", type=_seconds, default=_env("MG_SHUTDOWN_TIMEOUT", "25"),
                       help="seconds for a graceful shutdown before exiting 1 (env MG_SHUTDOWN_TIMEOUT)")
    serve.add_argument("--db-pool-size", type=_pool_size, default=_env("MG_DB_POOL_SIZE", "10"),
                       help="database connections per process (env MG_DB_POOL_SIZE)")
    serve.add_argument("--db-timeout", type=_seconds, default=_env("MG_DB_TIMEOUT", "5"),
                       help="seconds a database call may take before it fails with -32007 (env MG_DB_TIMEOUT)")
    serve.add_argument("--playback-flush-interval", type=_seconds, default=_env("MG_PLAYBACK_FLUSH_INTERVAL", "1.0"),
                       help="seconds within which a playback position is written (env MG_PLAYBACK_FLUSH_INTERVAL)")
    serve.add_argument("--playback-idle-timeout", type=_seconds, default=_env("MG_PLAYBACK_IDLE_TIMEOUT", "1800"),
                       help="seconds after which a playback session without updates closes (env MG_PLAYBACK_IDLE_TIMEOUT)")
    serve.add_argument("--refresh-reuse-interval", type=_reuse_interval,
                       default=_env("MG_REFRESH_REUSE_INTERVAL", "30"),
                       help="seconds within which a refresh token's direct predecessor answers the same tokens "
                            "again, 0 to 300, 0 turns it off (env MG_REFRESH_REUSE_INTERVAL)")

    serve.add_argument("--workers", type=_workers, default=_env("MG_WORKERS", "1"),
                       help="worker processes sharing the port, auto: one per core; more than one needs "
                            "--redis-url (env MG_WORKERS)")
    serve.add_argument("--worker-max-restarts", type=_restarts, default=_env("MG_WORKER_MAX_RESTARTS", "5"),
                       help="restarts of one worker within --worker-restart-period before the whole gives up "
                            "and exits 1 (env MG_WORKER_MAX_RESTARTS)")
    serve.add_argument("--worker-restart-period", type=_seconds, default=_env("MG_WORKER_RESTART_PERIOD", "60"),
                       help="seconds over which worker restarts are counted (env MG_WORKER_RESTART_PERIOD)")

    _add_limits(serve)

    migrate = sub.add_parser("migrate", help="apply pending migrations and exit")
    _add_common(migrate)

    user = sub.add_parser("create-user", help="create an account")
    _add_common(user)
    user.add_argument("--email", required=True)
    user.add_argument("--password", default=None,
                      help="default: asked at a prompt, or read from standard input when it is not a terminal")
    user.add_argument("--display-name", default=None)
    user.add_argument("--admin", action="store_true")

    imp = sub.add_parser("import-catalog", help="import content from JSON Lines or CSV")
    _add_common(imp)
    imp.add_argument("file")

    demo = sub.add_parser("demo-catalog", help="generate and import a deterministic demo catalog")
    _add_common(demo)
    demo.add_argument("--titles", type=int, required=True)
    demo.add_argument("--seed", type=int, default=0)

    call = sub.add_parser("call", help="one JSON-RPC call; prints the result as JSON")
    call.add_argument("method")
    call.add_argument("params", nargs="?", default=None, help="params as JSON")
    call.add_argument("--url", default=None, help="default ws://MG_HOST:MG_PORT/v1")
    call.add_argument("--token", default=None, help="access token sent as Authorization: Bearer")
    call.add_argument("--timeout", type=float, default=30.0)

    docs = sub.add_parser("docs", help="write the API reference and the clients' generated code "
                                       "(docs/, mgclient/methods.py, clients/typescript/src/types.ts)")
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the stale files")
    return parser


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1e9:
        raise ValueError(text)
    return value


def _burst(text: str) -> int:
    value = int(text)
    if not 100 <= value <= 1_000_000_000:
        raise ValueError(text)
    return value


def _size(text: str) -> int:
    value = int(text)
    if not 1024 <= value <= 1 << 40:
        raise ValueError(text)
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


def _pool_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise ValueError(text)
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < 86400 * 365:
        raise ValueError(text)
    return value


def _workers(text: str) -> int:
    if text.strip().lower() == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    value = int(text)
    if not 1 <= value <= 256:
        raise ValueError(text)
    return value


def _restarts(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 1000:
        raise ValueError(text)
    return value


def _reuse_interval(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 300:
        raise ValueError(text)
    return value


_port.__name__ = "port number"  # argparse names the type in its error message
_seconds.__name__ = "positive number of seconds"
_reuse_interval.__name__ = "number of seconds from 0 to 300"
_pool_size.__name__ = "pool size (1-1000)"
_workers.__name__ = "number of workers (1-256, or auto)"
_restarts.__name__ = "number of restarts (0-1000)"
_rate.__name__ = "rate (0 or more per second)"
_burst.__name__ = "burst (at least 100)"
_size.__name__ = "size in bytes (at least 1024)"


TRANSPORT_OPTIONS = (  # flag, env, type, default, help; README "Limits" says more
    ("--allowed-origins", "MG_ALLOWED_ORIGINS", str, "",
     "browser origins allowed to connect: comma-separated, * for any; default the gateway's own origin only"),
    ("--rate-limit", "MG_RATE_LIMIT", _rate, "100", "requests per second per connection after the burst; 0: off"),
    ("--rate-burst", "MG_RATE_BURST", _burst, "200", "requests a connection may send at once (at least 100, a batch)"),
    ("--handshake-timeout", "MG_HANDSHAKE_TIMEOUT", _seconds, "10", "seconds to finish the WebSocket handshake"),
    ("--max-handshake-bytes", "MG_MAX_HANDSHAKE_BYTES", _size, "16384", "largest handshake request (431 past it)"),
    ("--max-message-bytes", "MG_MAX_MESSAGE_BYTES", _size, "1048576", "largest message, also what one connection "
     "may hold unfinished (1009 past it)"),
    ("--max-partial-bytes", "MG_MAX_PARTIAL_BYTES", _size, "67108864",
     "bytes of unfinished messages all connections together may hold (1009 past it)"),
    ("--message-timeout", "MG_MESSAGE_TIMEOUT", _seconds, "15", "seconds to finish a message once begun (1008)"),
)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_count.__name__ = "count (0 or more)"

WRITE_OPTIONS = (  # what callers may make a node store; README "Limits" says more
    ("--register-rate", "MG_REGISTER_RATE", _rate, "10",
     "new accounts per second per node, after a burst of ten seconds' worth; 0: none"),
    ("--assign-record-rate", "MG_ASSIGN_RECORD_RATE", _rate, "50",
     "first assignments recorded per second per node for anonymous callers and users naming another id, "
     "after a burst of ten seconds' worth; 0: none recorded"),
    ("--assign-record-per-connection", "MG_ASSIGN_RECORD_PER_CONNECTION", _count, "100",
     "first assignments recorded per connection for anonymous callers and users naming another id"),
)


def _add_limits(p: argparse.ArgumentParser) -> None:
    for flag, env, kind, default, text in TRANSPORT_OPTIONS + WRITE_OPTIONS:
        p.add_argument(flag, type=kind, default=_env(env, default),
                       help=f"{text} (env {env})")


def config_from_args(args: argparse.Namespace) -> Config:
    serve_only = {name: getattr(args, name) for name in (
        "host", "port", "admin_port", "jwt_secret", "shutdown_timeout", "db_pool_size", "db_timeout",
        "playback_flush_interval", "playback_idle_timeout", "admin_host", "allowed_origins", "rate_limit",
        "rate_burst", "handshake_timeout", "max_handshake_bytes", "max_message_bytes", "max_partial_bytes",
        "message_timeout", "refresh_reuse_interval", "register_rate", "assign_record_rate",
        "assign_record_per_connection", "workers", "worker_max_restarts", "worker_restart_period")
        if hasattr(args, name)}
    return Config(
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        redis_url=args.redis_url,
        log_level=args.log_level,
        log_format=args.log_format,
        **serve_only,
    )


def serve(config: Config, worker: "WorkerLink | None" = None) -> int:
    """Run the gateway (`config.workers` > 1: the main process of that many, see
    gateway/workers; `worker`: one of them); a start-up failure is one log line and
    exit 1, not a traceback."""
    import gc
    import logging

    from actors.storage import MigrationError, StorageError
    from gateway.app import App
    from gateway.commands import leaves

    log = logging.getLogger("gateway")
    # The collector's youngest generation runs after 700 net allocations by default:
    # with 50 requests in flight that is several times a second for no garbage (0.2 us
    # per ping, 0.8 us per first-time experiments.assign, measured with gc.callbacks).
    # At 10,000 it runs about once a second under load; cyclic garbage waits a little
    # longer (at most 10,000 allocations).
    gc.set_threshold(10_000, 10, 10)
    failures: list[BaseException] = []
    try:
        if config.workers > 1 and worker is None:
            from gateway.workers import WorkerSupervisor

            return trio.run(WorkerSupervisor(config).run)
        return trio.run(App(config, worker).run)
    except* (OSError, StorageError, MigrationError) as group:
        failures.extend(leaves(group))
    for exc in failures:
        where = f" (ws {config.host}:{config.port}, admin {config.admin_host}:{config.admin_port})" if isinstance(exc, OSError) else ""
        log.error("cannot start%s: %s", where, exc, extra={"event": "startup.failed"})
    return 1


def read_password() -> str:
    """The new account's password: asked twice at a terminal, else the first line of
    standard input (so it stays out of shell history and `ps`)."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password again: "):
            print("error: the passwords differ", file=sys.stderr)
            return ""
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _docs(check: bool) -> int:
    from gateway import reference

    if check:
        stale = reference.stale()
        for path in stale:
            print(f"stale: {path} (run `python main.py docs`)", file=sys.stderr)
        return 1 if stale else 0
    for path in reference.write():
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS + ("-h", "--help", "--version"):
        argv.insert(0, "serve")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and args.workers > 1 and not args.redis_url:
        parser.error(f"--workers {args.workers} needs --redis-url (REDIS_URL): each worker is a node, and nodes "
                     "share revocations, catalog changes, login locks and playback sync through Redis")
    if args.command == "call":
        from gateway.call import run_call

        return run_call(args)
    if args.command == "docs":
        return _docs(args.check)

    if args.command == "create-user" and args.password is None:
        password = read_password()
        if not password:
            print("error: no password given (--password, a prompt, or standard input)", file=sys.stderr)
            return 1
        args.password = password

    from gateway import logs

    logs.configure(args.log_level, args.log_format)
    config = config_from_args(args)
    if args.command == "serve":
        return serve(config)
    from gateway import commands

    return commands.run(args, config)
