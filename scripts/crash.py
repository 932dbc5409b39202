#!/usr/bin/env python3
"""SIGKILL `reconciler apply` and `reconciler run` at random points; then one pass must converge.

    DOCKER_HOST=... .venv/bin/python scripts/crash.py [--sandboxes 20] [--kills 50] [--seed 1]

For `apply`, then for `run`: converge once (timing a whole pass, which
bounds when kills fall), then until --kills kills have landed mid-work:
change the manifests a little (a new spec for a third of the members, a new
infra spec for a sixth of the sandboxes, now and then a sandbox removed or
brought back), start the command, SIGKILL it at a random moment within how
long a pass takes, and survey what it left (a run that finishes first does
not count). Then one more pass (an unkilled `apply`; for `run`, the loop
until the state is exact) and check: exactly the desired containers, no
sandbox with two infras or two copies of a member, no orphaned container or
volume. Prints the figures; exit 1 unless both end exact. Needs a private
daemon (scripts/dockerd.sh) with the test images (scripts/test-image.sh).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.crashing import CrashRun, Figures


def report(what: str, figures: Figures) -> None:
    print(f"reconciler {what}:")
    print(f"  kills mid-work:          {figures.kills} ({figures.finished_first} finished first)")
    left = ", ".join(f"{k}: {v}" for k, v in sorted(figures.left.items()) if v) or "nothing"
    print(f"  left behind (summed):    {left}")
    print(f"  final pass:              {figures.final_seconds:.1f} s")
    print(f"  duplicates after it:     {figures.final_duplicates}")
    print(f"  orphans after it:        {figures.final_orphans}")
    print(f"  exact:                   {'yes' if figures.exact else 'NO'}")
    for problem in figures.final_wrong[:10]:
        print(f"    {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=20)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["apply", "run"], default=None)
    args = parser.parse_args()
    api = docker.APIClient(version="1.41", timeout=120, **docker.utils.kwargs_from_env())
    ok = True
    for what in ("apply", "run"):
        if args.only and what != args.only:
            continue
        with tempfile.TemporaryDirectory(prefix=f"crash-{what}-") as tmp:
            crash = CrashRun(
                api, Path(tmp), f"crash-{uuid.uuid4().hex[:8]}", args.sandboxes, args.seed
            )
            try:
                command = crash.apply_args() if what == "apply" else crash.run_args()
                crash.calibrate(run=what == "run")
                crash.kill_until(command, args.kills)
                if what == "apply":
                    done = crash.final_apply()
                    if done.returncode != 0:
                        print(done.stdout[-2000:], done.stderr[-2000:])
                else:
                    crash.final_run()
                crash.judge()
                report(what, crash.figures)
                ok &= crash.figures.exact
            finally:
                crash.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
