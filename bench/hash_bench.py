"""Per-call cost of the pure hot-path logic: experiment assignment, JWT decode and
issue, resume rules. Prints the median of several rounds in microseconds.

    .venv/bin/python bench/hash_bench.py [--rounds 5] [--number 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.experiments.assign import assign, hash_v2  # noqa: E402
from actors.experiments.model import create_experiment  # noqa: E402
from actors.playback.rules import ResumeRules  # noqa: E402
from actors.tokens.crypto import JwtCodec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--number", type=int, default=20_000)
    args = ap.parse_args()

    experiment = create_experiment(
        {"id": "checkout-button", "name": "Checkout", "variants": ["a", "b", "c"]}, 0.0
    )
    user = str(uuid.UUID(int=12345678901234567890))
    codec = JwtCodec(b"k" * 32)
    token, _ = codec.issue(user, "family-1", ["user"])
    rules = ResumeRules()

    cases = {
        "hash_v2 (36-char uuid)": lambda: hash_v2("checkout-button", user),
        "assign (3 variants)": lambda: assign(experiment, user),
        "assign (sticky)": lambda: assign(experiment, user, sticky_variant="b"),
        "jwt decode": lambda: codec.decode(token),
        "jwt issue": lambda: codec.issue(user, "family-1", ["user"]),
        "resume rules": lambda: rules.evaluate(1_234_567, 3_600_000),
    }
    for name, fn in cases.items():
        runs = [timeit.timeit(fn, number=args.number) / args.number * 1e6 for _ in range(args.rounds)]
        print(f"{name:<24} {statistics.median(runs):8.2f} us  (min {min(runs):.2f})", flush=True)


if __name__ == "__main__":
    main()
