"""How every driver retries its engine: transient errors only, jittered, bounded. No engine I/O.

One policy for all engines, so "transient" means the same under Docker and
CRI: a ``TransientDriverError`` is tried four times in all with jittered
exponential backoff (0.25 s doubling, at most 4 s); anything else is raised
at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from reconciler.core.errors import TransientDriverError

P = ParamSpec("P")
T = TypeVar("T")


def retried(func: Callable[P, T]) -> Callable[P, T]:
    """Retry transient failures: jittered exponential backoff, four tries in all."""
    return retry(
        retry=retry_if_exception_type(TransientDriverError),
        stop=stop_after_attempt(4),
        wait=wait_random_exponential(multiplier=0.25, max=4),
        reraise=True,
    )(func)


__all__ = ["retried"]
