"""Kubernetes' ``$(VAR)`` references in env values, command and args. No I/O.

kubelet expands them before a container starts (k8s.io/kubernetes,
third_party/forked/golang/expansion), so a Pod means its expanded values;
running the text as written would run a different container than the one
Kubernetes runs. The rules, all of which these functions keep:

- ``$(NAME)`` is the value of NAME when it is defined, else it stays as written;
- ``$$`` is one ``$`` (so ``$$(NAME)`` is the text ``$(NAME)``);
- any other ``$``, and a ``$(`` with no ``)`` after it, stays as written;
- the name is everything up to the first ``)``; nothing inside it is expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Left to right, without overlaps, as kubelet's cursor scans: a `$$` is taken
# before the `$(` that may follow it, and a `$(` that never closes matches
# nothing, so scanning goes on after it and a later `$$` still collapses.
_OPERATOR = re.compile(r"\$(?:(\$)|\(([^)]*)\))")


def expand(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its references to ``values`` replaced and ``$$`` made ``$``."""
    if "$" not in text:  # most values: nothing to scan
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name is None:  # `$$`
            return "$"
        return values.get(name, match.group(0))  # unknown: as written, `$(NAME)`

    return _OPERATOR.sub(replace, text)


def escape(text: str) -> str:
    """What ``expand`` turns back into ``text`` whatever the values: every ``$`` doubled.

    For a value that must reach the container as it is (a ConfigMap's, which
    kubelet never expands) in a place that is expanded (an env list)."""
    return text.replace("$", "$$")


def expand_env(
    env: Iterable[tuple[str, str]], defined: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A container's variables: ``defined`` and then ``env`` (name, value) in order.

    Each value is expanded against what is defined before it, as kubelet does:
    a reference to a later entry, or to one that never comes, stays as written.
    A name given again takes the new value, in the place it first had.
    """
    variables = dict(defined or {})
    for name, value in env:
        variables[name] = expand(value, variables)
    return variables
