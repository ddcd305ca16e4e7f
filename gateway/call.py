"""`main.py call METHOD [PARAMS] [--url] [--token]`: one JSON-RPC call, the result printed as
JSON. Exit 0 with a result, 1 with an error answer (printed to stderr as JSON), 2 when
the server cannot be reached or the connection fails (one plain sentence on stderr)."""

from __future__ import annotations

import argparse
import os
import sys

import orjson
import trio

from mgclient import RpcError, TransportError, connect

EXIT_ERROR_ANSWER = 1
EXIT_TRANSPORT = 2


def default_url() -> str:
    host = os.environ.get("MG_HOST") or "127.0.0.1"
    port = os.environ.get("MG_PORT") or "8080"
    return f"ws://{host}:{port}/v1"


def run_call(args: argparse.Namespace) -> int:
    try:
        params = orjson.loads(args.params) if args.params else None
    except orjson.JSONDecodeError as exc:
        print(f"params are not valid JSON: {exc}", file=sys.stderr)
        return EXIT_TRANSPORT
    url = args.url or default_url()

    async def go() -> int:
        async with connect(url, token=args.token, connect_timeout=args.timeout) as conn:
            try:
                result = await conn.call(args.method, params, timeout=args.timeout)
            except RpcError as exc:
                error: dict[str, object] = {"code": exc.code, "message": exc.message}
                if exc.data is not None:
                    error["data"] = exc.data
                print(orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2).decode(), file=sys.stderr)
                return EXIT_ERROR_ANSWER
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0

    try:
        return trio.run(go)
    except TransportError as exc:
        print(f"call failed: {exc}", file=sys.stderr)
    except trio.TooSlowError:
        print(f"call failed: no answer from {url} within {args.timeout:g} s", file=sys.stderr)
    return EXIT_TRANSPORT
