#!/usr/bin/env bash
# Mutation testing, run by hand (not in CI): mutmut mutates a module and runs
# the unit tests that cover it; a mutant no test kills is a hole in the tests
# or an equivalent program. docs/testing.md keeps the last score.
#
#   scripts/mutation.sh [planner|admission]     (default: planner)
#
# mutmut 2 mutates files in place, so it works on a copy of the working tree
# in .mutation/TARGET (git-ignored), never on the checkout. The copy keeps
# mutmut's cache: a second run retests only the mutants that survived or
# whose line changed. CPU-heavy (the first run of the planner takes the
# better part of an hour on two shared cores): it runs under nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

target=${1:-planner}
case $target in
    planner)
        paths=reconciler/core/planner.py,reconciler/core/infraplan.py,reconciler/core/memberplan.py
        tests="tests/unit/test_planner.py tests/unit/test_planner_table.py tests/unit/test_planner_sidecars.py tests/unit/test_host_ports.py tests/unit/test_ownership.py tests/unit/test_planner_properties.py"
        ;;
    admission)
        paths=reconciler/core/admission.py,reconciler/core/runtimes.py
        tests="tests/unit/test_admission.py tests/unit/test_runtimes.py tests/unit/test_desired.py tests/unit/test_policy.py tests/unit/test_host_ports.py tests/unit/test_planner_table.py"
        ;;
    *)
        echo "usage: $0 [planner|admission]" >&2
        exit 2
        ;;
esac

make_venv test
venv=$PWD/.venv
"$venv/bin/python" -c 'import mutmut' 2>/dev/null || "$venv/bin/pip" install -q 'mutmut>=2.5,<3'

work=$PWD/.mutation/$target
mkdir -p "$work"
exec 9>"$work.lock"  # one run per target: two would share mutmut's cache and files
flock -n 9 || { echo "another mutation run uses $work" >&2; exit 1; }
rm -rf "$work/reconciler" "$work/tests"
cp -r reconciler tests pyproject.toml "$work"/
cd "$work"
export PYTHONPATH=$work HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-mutation}
"$venv/bin/python" -c "import reconciler, sys; sys.exit(not reconciler.__file__.startswith('$work'))" \
    || { echo "the copy's reconciler is not the one imported" >&2; exit 1; }

# Only the module's own tests run against each mutant (-x: the first failure
# kills it); the tests that break the planner on purpose are left out.
runner="$venv/bin/python -m pytest -x -q -p no:cacheprovider $tests -k 'not broken_planner'"
status=0
# String literals are the reasons and messages people read, not decisions;
# MUTATE_STRINGS=1 mutates them too. mutmut 2.5 crashes ("Attribute
# Mutant.line is required") on the assignment mutants of a statement that
# spans lines, and then hangs: MUTMUT_SKIP=expr_stmt leaves those out.
types=${MUTATE_STRINGS:+x}
types=${types:-string,fstring}
types=${types#x}${MUTMUT_SKIP:+,$MUTMUT_SKIP}
types=${types#,}
skip=()
[ -z "$types" ] || skip=(--disable-mutation-types "$types")
nice -n 19 "$venv/bin/mutmut" run --paths-to-mutate "$paths" --runner "$runner" \
    --tests-dir tests --no-progress "${skip[@]}" || status=$?
"$venv/bin/mutmut" results || true
for id in $("$venv/bin/mutmut" result-ids survived 2>/dev/null); do
    "$venv/bin/mutmut" show "$id"
done
"$venv/bin/python" - <<'PY'
import collections, sqlite3
counts = collections.Counter(s for (s,) in sqlite3.connect(".mutmut-cache").execute("select status from Mutant"))
killed = counts["ok_killed"] + counts["ok_suspicious"]
tested = killed + counts["bad_survived"] + counts["bad_timeout"]
print(f"score: {killed} of {tested} tested mutants killed ({100 * killed / max(tested, 1):.1f} %); "
      f"{counts['untested']} untested; {dict(counts)}")
PY
# mutmut's exit code is a bit field (2: some survived); only 1 is an error.
[ $((status & 1)) -eq 0 ]
