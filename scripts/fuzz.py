#!/usr/bin/env python3
"""Fuzz the manifest loader and validator: N cases (default 10,000), then the figures.

    .venv/bin/python scripts/fuzz.py [--cases 10000] [--seed 0]

Cases are mutations of manifests/examples and the corpus in tests/fuzzing.py,
as text and as parsed trees, plus random documents. A case fails if loading
or validating it raises anything (a problem in ``LoadResult.errors`` is the
documented outcome) or takes longer than --hang seconds. Prints how many
cases ran, how many loaded clean or with problems, the slowest case, and the
billion-laughs refusal time. Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.core.manifests import load_text
from tests.fuzzing import cases, check


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, this = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{this}: &{this} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang", type=float, default=5.0, help="seconds a case may take")
    args = parser.parse_args()

    counts = {"clean": 0, "problems": 0}
    failures: list[tuple[str, str]] = []
    slowest = (0.0, "")

    @seed(args.seed)
    @settings(
        max_examples=args.cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def run(text: str) -> None:
        nonlocal slowest
        began = time.perf_counter()
        try:
            result = check(text)
        except Exception:
            failures.append((text, traceback.format_exc()))
            return
        took = time.perf_counter() - began
        if took > slowest[0]:
            slowest = (took, text)
        if took > args.hang:
            failures.append((text, f"took {took:.1f} s"))
        counts["clean" if result.ok else "problems"] += 1

    began = time.perf_counter()
    run()
    total = time.perf_counter() - began
    ran = counts["clean"] + counts["problems"] + len(failures)

    laughs = billion_laughs()
    t0 = time.perf_counter()
    refused = load_text(laughs, "laughs.yaml")
    laughs_ms = (time.perf_counter() - t0) * 1000
    # The largest document the default limits let through: ~9,900 env entries.
    env = "".join(f'    - {{name: E{i}, value: "{"v" * 60}"}}\n' for i in range(9_900))
    big = "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: c}\n"
    big += "spec:\n  image: x\n  env:\n" + env
    t0 = time.perf_counter()
    near = load_text(big, "big.yaml")
    big_ms = (time.perf_counter() - t0) * 1000

    print(f"cases run:            {ran}")
    print(f"  loaded clean:       {counts['clean']}")
    print(f"  reported problems:  {counts['problems']}")
    print(f"  crashed or hung:    {len(failures)}")
    print(f"total time:           {total:.1f} s ({total / max(ran, 1) * 1000:.2f} ms a case)")
    print(f"slowest case:         {slowest[0] * 1000:.1f} ms")
    print(
        f"billion laughs:       {len(laughs)} bytes refused in {laughs_ms:.2f} ms "
        f"({refused.errors[0].message if refused.errors else 'NOT REFUSED'})"
    )
    print(
        f"largest allowed doc:  {len(big)} bytes, {'loaded' if near.ok else 'REFUSED'} "
        f"in {big_ms:.0f} ms"
    )
    for text, why in failures[:5]:
        print(f"\n--- failing case {text!r}\n{why}")
    return 1 if failures or refused.ok else 0


if __name__ == "__main__":
    sys.exit(main())
