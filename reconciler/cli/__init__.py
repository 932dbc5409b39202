"""The command line: parse, call the library, print. Thin on purpose.

Exit codes: 0 success; 1 a unit failed, a manifest is invalid or the daemon
is unreachable; 2 bad usage. ``diff`` follows kubectl: 0 no changes,
1 changes, 2 an error. ``validate``: 0 valid, 1 invalid.

The modules: app.py (the group, its global options, the config file, ``main``;
commands load by name), options.py (``Options``), engines.py (the drivers
``--driver`` picks from and the factory that makes one), common.py (what
commands share), and one module per family of commands: converge.py (apply,
diff, delete), status.py (get), loops.py (run, sync), check.py (validate,
policy, schema), containers.py (logs, exec), convert.py (export, convert),
version.py; render.py, report.py and progress.py print.
"""

from reconciler.cli.app import cli, main

__all__ = ["cli", "main"]
