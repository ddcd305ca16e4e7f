"""What authentication costs on the hot path.

1. Token check (decode with pinned algorithm, issuer and audience, plus the
   revoked-family lookup in a set holding `--revoked` families) per second, against
   a bare `jwt.decode` of the same token with the same checks, in the same process,
   interleaved rounds (target ratio >= 0.8). Also the per-request check of an
   already-authenticated connection (the authorizer: no decode at all).
2. `system.ping` through a gateway process on authenticated connections (Bearer on
   the handshake) against unauthenticated ones, same gateway, interleaved rounds
   (target ratio >= 0.9).

    .venv/bin/python bench/tokens_bench.py [--rounds 9] [--number 5000] [--seconds 2] [--connections 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

import jwt
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadgen import closed_loop, gateway, ping_frame  # noqa: E402

from actors.tokens.crypto import JwtCodec  # noqa: E402
from actors.tokens.guard import TokenGuard  # noqa: E402
from actors.tokens.revoked import RevokedFamilies  # noqa: E402
from actors.tokens.settings import Clock  # noqa: E402
from mgclient import connect  # noqa: E402

KEY = b"k" * 32
ISSUER, AUDIENCE = "media-gateway", "media-gateway-clients"


def token_check(rounds: int, number: int, revoked_count: int) -> None:
    clock = Clock()
    codec = JwtCodec(KEY, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    revoked = RevokedFamilies(900, clock)
    for i in range(revoked_count):
        revoked.add(f"f_revoked_{i:08d}")
    guard = TokenGuard(codec, revoked, clock)
    token, _ = codec.issue("u_0123456789abcdef0123", "f_live_family", ["user"])
    claims = guard.check(token)

    def bare() -> object:
        return jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)

    def checked() -> object:
        return guard.check(token)

    def authorize() -> None:  # what an authenticated connection pays per request
        guard.still_valid(claims)

    runs: dict[str, list[float]] = {"bare": [], "check": [], "authorize": []}
    for _ in range(rounds):
        for name, fn in (("bare", bare), ("check", checked), ("authorize", authorize)):
            runs[name].append(number / timeit.timeit(fn, number=number))
    ratios = sorted(c / b for c, b in zip(runs["check"], runs["bare"]))
    med = {k: statistics.median(v) for k, v in runs.items()}
    best = {k: max(v) for k, v in runs.items()}
    print(f"token check, {revoked_count} families revoked, {rounds} rounds x {number}:")
    print(f"  bare jwt.decode        {med['bare']:>10.0f}/s median ({1e6 / med['bare']:.1f} us), best {best['bare']:.0f}/s")
    print(f"  decode + revoked check {med['check']:>10.0f}/s median ({1e6 / med['check']:.1f} us), best {best['check']:.0f}/s")
    print(f"  ratio (target >= 0.8)  median of rounds {statistics.median(ratios):.2f}, of medians "
          f"{med['check'] / med['bare']:.2f}, of bests {best['check'] / best['bare']:.2f}")
    print(f"    per-round {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"  per-request authorize  {med['authorize']:>10.0f}/s  ({1e6 / med['authorize']:.2f} us)", flush=True)


async def get_token(url: str) -> str:
    async with connect(url) as client:
        email, password = "bench@example.com", "bench password 123"
        await client.call("auth.register", {"email": email, "password": password})
        return (await client.call("auth.login", {"email": email, "password": password}))["access_token"]


def ping_throughput(rounds: int, seconds: float, connections: int) -> None:
    gw = gateway()
    try:
        token = trio.run(get_token, gw.url)
        headers = [("Authorization", f"Bearer {token}")]
        anon, auth = [], []
        for _ in range(rounds):
            anon.append(trio.run(closed_loop, gw.url, connections, seconds, ping_frame))
            auth.append(trio.run(closed_loop, gw.url, connections, seconds, ping_frame, headers))
    finally:
        gw.stop()
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
           for name, runs in (("anonymous", anon), ("authenticated", auth))}
    ratios = sorted(a["rps"] / n["rps"] for a, n in zip(auth, anon))
    print(f"system.ping through the gateway, {connections} connections, {rounds} rounds x {seconds:.0f} s:")
    for name, m in med.items():
        print(f"  {name:<14} {m['rps']:>8.0f} rps  p50 {m['p50_ms']:.2f} ms  p99 {m['p99_ms']:.2f} ms")
    print(f"  ratio (target >= 0.9)  median of rounds {statistics.median(ratios):.2f}, of medians "
          f"{med['authenticated']['rps'] / med['anonymous']['rps']:.2f}")
    print(f"    per-round {', '.join(f'{r:.2f}' for r in ratios)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--number", type=int, default=5_000)
    ap.add_argument("--revoked", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--skip-gateway", action="store_true")
    args = ap.parse_args()
    token_check(args.rounds, args.number, args.revoked)
    if not args.skip_gateway:
        ping_throughput(args.rounds, args.seconds, args.connections)


if __name__ == "__main__":
    main()
