"""Per-call cost of the pure hot-path logic: the experiment hash and the assignment
table's answer for a returning user, JWT decode and issue, resume rules. Prints the
median of several rounds in microseconds.

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

from actors.experiments.buckets import BUCKETS, encode_claims  # noqa: E402
from actors.experiments.hashing import hash_v2  # noqa: E402
from actors.experiments.model import create_experiment  # noqa: E402
from actors.experiments.store import StoredExperiment  # noqa: E402
from actors.experiments.table import AssignmentTable  # noqa: E402
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
    table = AssignmentTable()
    table.install(StoredExperiment(experiment, encode_claims([0] * BUCKETS), 1))
    table.assign(experiment.id, user)
    codec = JwtCodec(b"k" * 32)
    token, _ = codec.issue(user, "family-1", ["user"])
    rules = ResumeRules()

    cases = {
        "hash_v2 (36-char uuid)": lambda: hash_v2("checkout-button", user),
        "table assign (returning)": lambda: table.assign("checkout-button", user),
        "jwt decode": lambda: codec.decode(token),
        "jwt issue": lambda: codec.issue(user, "family-1", ["user"]),
        "resume rules": lambda: rules.evaluate(1_234_567, 3_600_000),
    }
    for name, fn in cases.items():
        runs = [timeit.timeit(fn, number=args.number) / args.number * 1e6 for _ in range(args.rounds)]
        print(f"{name:<24} {statistics.median(runs):8.2f} us  (min {min(runs):.2f})", flush=True)


if __name__ == "__main__":
    main()
