"""A few hundred fuzz cases in every run (scripts/fuzz.py runs 10,000): problems, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import cases, check, seeds


def test_every_seed_loads_or_reports() -> None:
    for seed in seeds():
        check(seed)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases)
def test_the_loader_and_validator_never_crash(text: str) -> None:
    check(text)
