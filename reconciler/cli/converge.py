"""`apply`, `diff` and `delete`: one reconcile each (converge/reconcile.py), printed.

The exit code comes from how the reconcile ended (its ``Verdict``), mapped
per command to the codes the docstring of ``reconciler.cli`` documents.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from reconciler.cli import common, engines, render
from reconciler.cli.options import Options
from reconciler.cli.progress import Progress
from reconciler.cli.report import document
from reconciler.converge.executor import Outcome, Result
from reconciler.converge.reconcile import (
    OBSERVE_AGAIN_ROUNDS,
    Configure,
    Reconciled,
    Verdict,
    reconcile,
)
from reconciler.core.actions import Action, waiting_text
from reconciler.core.compile import Compiled, compile_units
from reconciler.core.manifests import LoadResult
from reconciler.core.observed import Observation
from reconciler.core.planner import Plan, PlanConfig
from reconciler.core.spec import Desired, UnitKey

# A verdict's exit code: apply and delete 0 / 1; diff as kubectl's (0 no changes,
# 1 changes, 2 an error).
APPLY_CODES = {Verdict.OK: 0, Verdict.CHANGES: 0, Verdict.FAILED: 1, Verdict.ERROR: 1}
DIFF_CODES = {Verdict.OK: 0, Verdict.CHANGES: 1, Verdict.FAILED: 2, Verdict.ERROR: 2}


class Printer:
    """A reconcile's hooks, printing: plan warnings (and notes), what is waited for,
    each outcome, and on a terminal a progress line (units done / total, the action).

    With ``output="json"`` only warnings and notes are printed: the caller prints
    one document.
    """

    def __init__(self, output: str, *, progress: bool = True, notes: bool = False) -> None:
        self.output = output
        self.notes = notes
        self.color = common.color()
        self.progress: Progress | None = None
        self._wants_progress = (
            progress and output == "text" and common.color(sys.stdout) and common.color(sys.stderr)
        )
        self._first = True

    def plan(self, desired: Desired, plan: Plan) -> None:
        if self._first and self.notes:
            common.notes(desired)
        if plan.warnings:
            click.echo("\n".join(f"warning: {w}" for w in plan.warnings), err=True)
        if self._first and self._wants_progress:
            self.progress = Progress(sys.stderr, {u.key: len(u.actions) for u in plan.units})
        self._first = False

    def say(self, line: str) -> None:
        if self.output != "text":
            return
        if self.progress is None:
            click.echo(line)
        else:
            self.progress.print(line, sys.stdout)

    def begin(self, key: UnitKey, action: Action) -> None:
        text = waiting_text(action)
        if text is not None:
            self.say(f"{key}: {text}")
        if self.progress is not None:
            self.progress.begin(key, action)

    def done(self, key: UnitKey, outcome: Outcome) -> None:
        self.say(render.outcome_text(key, outcome, self.color))
        if self.progress is not None:
            self.progress.finished(key, outcome)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None


def converge(
    options: Options,
    compiled: Sequence[Compiled],
    configure: Configure,
    *,
    dry_run: bool = False,
    parallel: int = 4,
    output: str = "text",
    rounds: int = OBSERVE_AGAIN_ROUNDS,
    notes: bool = False,
    error_code: int = 1,
) -> Reconciled:
    """One reconcile through the driver ``--driver`` names, printed as it goes, and
    the summary after. Exits with ``error_code`` when the engine cannot be observed."""
    printer = Printer(output, progress=not dry_run, notes=notes)
    try:
        with engines.driver(options) as driver:
            done = reconcile(
                driver,
                compiled,
                options.build,
                configure,
                dry_run=dry_run,
                parallel=parallel,
                rounds=rounds,
                on_plan=printer.plan,
                on_begin=printer.begin,
                on_outcome=printer.done,
            )
    finally:
        printer.close()
    if done.error is not None:
        common.fail(done.error, error_code)
    if output == "text" and done.result is not None:
        summary = render.summary_text(done.result, printer.color)
        if summary:
            click.echo(summary)
    return done


def print_report(
    command: str,
    options: Options,
    plan: Plan,
    result: Result | None,
    loaded: LoadResult | None,
    dry_run: bool = False,
    not_found: Sequence[str] = (),
) -> None:
    """The one JSON document of ``-o json`` (docs/output.md)."""
    click.echo(
        json.dumps(
            document(
                command,
                options.instance,
                plan,
                result,
                dry_run=dry_run,
                errors=loaded.errors if loaded else (),
                warnings=[str(w) for w in (loaded.warnings if loaded else ())]
                + [w.message for w in plan.warnings],
                not_found=not_found,
            ),
            indent=2,
        )
    )


def _print_plan(plan: Plan, empty: str = "") -> None:
    text = render.plan_text(plan, common.color())
    if text or empty:
        click.echo(text or empty)


@click.command()
@common.files
@common.recursive
@click.option(
    "--prune", is_flag=True, help="Remove this instance's units the paths no longer define."
)
@click.option(
    "--allow-empty", is_flag=True, help="Let --prune remove everything when nothing is defined."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@common.adopt
@click.option(
    "--parallel",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Units converged at once.",
)
@common.output
@click.pass_obj
def apply(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    prune: bool,
    allow_empty: bool,
    dry_run: bool,
    adopt: bool,
    parallel: int,
    output: str,
) -> None:
    """Converge the Docker host to the manifests, once.

    Units apply makes belong to apply; --prune removes only the units last
    applied from the same set of paths, never those of `run` or `sync`. A unit
    the loop evicted (an emptyDir over its sizeLimit) runs again; apply itself
    measures nothing.
    """
    loaded = common.load(paths, recursive)
    build = options.build_for(common.applied_owner(paths))
    config = PlanConfig.of(
        build,
        adopt=adopt,
        prune=prune,
        allow_empty=allow_empty,
        incomplete=not loaded.ok,
        lift_evictions=True,  # an evicted unit applied runs again (nothing here measures)
    )
    compiled = compile_units(loaded.manifests, build, values=loaded.values)
    done = converge(options, compiled, config, dry_run=dry_run, parallel=parallel, output=output)
    if dry_run and output == "text":
        _print_plan(done.plan, "no changes")
    if output == "json":
        print_report("apply", options, done.plan, done.result, loaded, dry_run)
    sys.exit(APPLY_CODES[done.verdict] or (0 if loaded.ok else 1))


@click.command()
@common.files
@common.recursive
@click.option("--prune", is_flag=True, help="Include removals of units the paths no longer define.")
@click.option(
    "--allow-empty", is_flag=True, help="Let --prune remove everything when nothing is defined."
)
@common.adopt
@common.output
@click.pass_obj
def diff(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    prune: bool,
    allow_empty: bool,
    adopt: bool,
    output: str,
) -> None:
    """Show what apply would do, and why. Exit 0: no changes, 1: changes, 2: error."""
    loaded = common.load(paths, recursive)
    build = options.build_for(common.applied_owner(paths))
    config = PlanConfig.of(
        build,
        adopt=adopt,
        prune=prune,
        allow_empty=allow_empty,
        incomplete=not loaded.ok,
        lift_evictions=True,  # an evicted unit applied runs again (nothing here measures)
    )
    compiled = compile_units(loaded.manifests, build, values=loaded.values)
    done = converge(
        options, compiled, config, dry_run=True, output=output, notes=True, error_code=2
    )
    if output == "json":
        print_report("diff", options, done.plan, None, loaded)
    else:
        _print_plan(done.plan)
    sys.exit(2 if not loaded.ok else DIFF_CODES[done.verdict])


@click.command()
@common.files
@common.recursive
@click.argument("names", nargs=-1)
@click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace of the NAMEs."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@common.output
@click.pass_obj
def delete(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    names: tuple[str, ...],
    namespace: str,
    dry_run: bool,
    output: str,
) -> None:
    """Remove units named by manifests (-f) or by NAME / KIND/NAME."""
    if not paths and not names:
        raise click.UsageError("give -f PATH or at least one NAME")
    keys, bare = common.parse_names(names, namespace)
    loaded = None
    if paths:
        loaded = common.load(paths, recursive)
        keys |= {UnitKey(*m.identity) for m in loaded.manifests}
    missing: list[str] = []

    def configure(observed: Observation, _desired: Desired) -> PlanConfig:
        """What to remove: the units named that exist (bare names match either kind)."""
        present = {c.unit_key for c in observed.containers if c.unit_key is not None}
        present |= observed.volume_units  # a unit that a crash left as only a volume
        named = {k for k in present if k.name in bare and k.namespace == namespace}
        wanted = keys | named
        missing.extend(f"{key} not found" for key in sorted(wanted - present))
        missing.extend(
            f"{name}: no sandbox or container of that name in namespace {namespace}"
            for name in sorted(bare - {k.name for k in named})
        )
        for message in missing:
            click.echo(f"error: {message}", err=True)
        return PlanConfig.of(options.build, delete=frozenset(wanted & present))

    done = converge(options, (), configure, dry_run=dry_run, output=output, rounds=0)
    if dry_run and output == "text":
        _print_plan(done.plan, "no changes")
    if output == "json":
        print_report("delete", options, done.plan, done.result, loaded, dry_run, missing)
    ok = loaded is None or loaded.ok
    sys.exit(APPLY_CODES[done.verdict] or (1 if missing or not ok else 0))
