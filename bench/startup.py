"""Where a command's start-up goes: import times of reconciler's modules, and `--help`.

Runs ``python -X importtime -c "import MODULE"`` ``--runs`` times (default
9) and prints, per module, the median cumulative and self time in ms, the
``--top`` largest first; then the median wall time of ``reconciler --help``.
No daemon needed. Does I/O (subprocesses).

    .venv/bin/python bench/startup.py [--module reconciler.cli] [--runs 9] [--top 25]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

from common import positive, reconciler_executable, table


def import_times(module: str) -> dict[str, tuple[int, int]]:
    """module -> (self us, cumulative us) of one fresh interpreter importing ``module``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, total, name = line.removeprefix("import time:").split("|", 2)
        found[name.strip()] = (int(own), int(total))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", default="reconciler.cli")
    parser.add_argument("--runs", type=positive, default=9)
    parser.add_argument("--top", type=positive, default=25)
    args = parser.parse_args(argv)
    own: dict[str, list[int]] = defaultdict(list)
    total: dict[str, list[int]] = defaultdict(list)
    for _ in range(args.runs):
        for name, (a, b) in import_times(args.module).items():
            own[name].append(a)
            total[name].append(b)
    rows = [["module", "cumulative ms", "self ms"]]
    ranked = sorted(total, key=lambda n: statistics.median(total[n]), reverse=True)
    for name in ranked[: args.top]:
        rows.append(
            [
                name,
                f"{statistics.median(total[name]) / 1000:.1f}",
                f"{statistics.median(own[name]) / 1000:.1f}",
            ]
        )
    print(f"python -X importtime -c 'import {args.module}': medians of {args.runs} runs")
    print(table(rows))
    walls = []
    for _ in range(args.runs):
        began = time.perf_counter()
        subprocess.run([str(reconciler_executable()), "--help"], capture_output=True, check=True)
        walls.append(time.perf_counter() - began)
    print(f"\nreconciler --help: median {statistics.median(walls) * 1000:.0f} ms wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
