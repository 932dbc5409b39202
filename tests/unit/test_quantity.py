"""Kubernetes resource quantities: parsing and the conversions to Docker's units."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.quantity import (
    cpu_limit_millis,
    cpu_request_millis,
    memory_to_bytes,
    parse_quantity,
)

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


# --- parse_quantity ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("2", Decimal(2)),
        ("+2", Decimal(2)),
        ("-2", Decimal(-2)),
        ("250u", Decimal("0.00025")),
        ("7n", Decimal("7e-9")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1Ki", Decimal(1024)),
        ("1G", Decimal(10**9)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e8", Decimal(5 * 10**8)),
        ("1e+3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("  2  ", Decimal(2)),
    ],
)
def test_parse_quantity_text(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, Decimal(2)), (0.5, Decimal("0.5")), (1024, Decimal(1024)), (1.25, Decimal("1.25"))],
)
def test_parse_quantity_numbers(value: int | float, expected: Decimal) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "1 Gi",
        "1gi",
        "1GB",
        "1Mb",
        "1KiB",
        "Gi",
        "m",
        "1..5",
        "1.5.5",
        "--1",
        "1e",
        "1e1.5",
        "1Gi1",
        "0x10",
        "1_000",
        "∞",
        "nan",
        "inf",
    ],
)
def test_parse_quantity_rejects_bad_text_and_names_it(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity") as info:
        parse_quantity(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_quantity_rejects_booleans(value: bool) -> None:
    # YAML `cpu: true` must not read as 1 core.
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(value)


def test_decimal_exponent_and_exa_suffix_are_told_apart() -> None:
    assert parse_quantity("2E") == 2 * 10**18
    assert parse_quantity("2E2") == 200
    assert parse_quantity("2e2") == 200


@given(
    number=st.integers(min_value=0, max_value=10**6),
    suffix=st.sampled_from(sorted(BINARY)),
)
def test_binary_suffixes_multiply_exactly(number: int, suffix: str) -> None:
    assert parse_quantity(f"{number}{suffix}") == number * BINARY[suffix]


@given(
    number=st.integers(min_value=0, max_value=10**6),
    suffix=st.sampled_from(sorted(DECIMAL)),
)
def test_decimal_suffixes_multiply_exactly(number: int, suffix: str) -> None:
    assert parse_quantity(f"{number}{suffix}") == number * DECIMAL[suffix]


@given(number=st.integers(min_value=0, max_value=10**6), exponent=st.integers(0, 18))
def test_exponent_form_equals_the_power_of_ten(number: int, exponent: int) -> None:
    assert parse_quantity(f"{number}e{exponent}") == number * 10**exponent


@given(value=st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False))
def test_plain_decimal_text_round_trips(value: Decimal) -> None:
    assert parse_quantity(str(value)) == value


@given(millis=st.integers(min_value=0, max_value=10**7))
def test_milli_suffix_is_the_same_as_the_decimal_fraction(millis: int) -> None:
    assert parse_quantity(f"{millis}m") == Decimal(millis) / 1000


# --- cpu_limit_millis -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", 500),
        ("0.5", 500),
        ("2", 2000),
        (2, 2000),
        (0.25, 250),
        ("1500m", 1500),
        ("1e0", 1000),
        ("10m", 10),
        ("1.0005", 1001),  # rounded up, as kubelet's MilliValue does
    ],
)
def test_cpu_limit_millis(value: str | int | float, expected: int) -> None:
    assert cpu_limit_millis(value) == expected


@pytest.mark.parametrize("value", ["0", "0m", 0, "-1", "-500m", -0.5, "9m"])
def test_a_cpu_limit_is_at_least_the_kernels_smallest_quota(value: str | int | float) -> None:
    with pytest.raises(ValueError, match="at least 10m"):
        cpu_limit_millis(value)


def test_cpu_limit_millis_rejects_bad_text() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        cpu_limit_millis("half")


@given(millis=st.integers(min_value=10, max_value=10**6))
def test_cpu_millis_and_cores_agree(millis: int) -> None:
    cores = str(Decimal(millis) / 1000)
    assert cpu_limit_millis(f"{millis}m") == cpu_limit_millis(cores) == millis


def test_a_tiny_positive_cpu_request_never_becomes_nothing() -> None:
    assert cpu_request_millis("0.1n") == 1


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_cpu_is_a_value_error(value: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is what pydantic reports
        cpu_limit_millis(value)


# --- cpu_request_millis -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1000), (1, 1000), ("500m", 500), ("1.5", 1500), ("1m", 1), ("0", 0)],
)
def test_cpu_request_millis(value: str | int, expected: int) -> None:
    assert cpu_request_millis(value) == expected


@given(millis=st.integers(min_value=0, max_value=64_000))
def test_cpu_requests_are_monotonic(millis: int) -> None:
    assert cpu_request_millis(f"{millis}m") <= cpu_request_millis(f"{millis + 1}m")


def test_cpu_request_millis_rejects_bad_text_and_negatives() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        cpu_request_millis("lots")
    with pytest.raises(ValueError, match="negative"):
        cpu_request_millis("-1")


# --- memory_to_bytes --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("128Mi", 134_217_728),
        ("1Gi", 1_073_741_824),
        ("1G", 1_000_000_000),
        ("1e3", 1000),
        ("5e8", 500_000_000),
        ("64Ki", 65_536),
        ("0.5Ki", 512),
        ("1.5Gi", 1_610_612_736),
        ("1000", 1000),
        (4096, 4096),
        ("1M", 1_000_000),
    ],
)
def test_memory_to_bytes(value: str | int, expected: int) -> None:
    assert memory_to_bytes(value) == expected


@pytest.mark.parametrize("value", ["0", "0Mi", 0, "-1Gi", "-5"])
def test_memory_must_be_positive(value: str | int) -> None:
    with pytest.raises(ValueError, match="memory must be positive"):
        memory_to_bytes(value)


@pytest.mark.parametrize("value", ["0.5", "1500m", "1.5", "1n"])
def test_memory_must_be_whole_bytes(value: str) -> None:
    with pytest.raises(ValueError, match="whole number of bytes"):
        memory_to_bytes(value)


@pytest.mark.parametrize("value", ["128MB", "1 Gi", "lots", "Mi"])
def test_memory_rejects_bad_text(value: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        memory_to_bytes(value)


@given(number=st.integers(min_value=1, max_value=10**6), suffix=st.sampled_from(sorted(BINARY)))
def test_memory_binary_round_trip(number: int, suffix: str) -> None:
    assert memory_to_bytes(f"{number}{suffix}") == number * BINARY[suffix]


@given(number=st.integers(min_value=1, max_value=2**62))
def test_memory_plain_bytes_round_trip(number: int) -> None:
    assert memory_to_bytes(str(number)) == number
    assert memory_to_bytes(number) == number


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_memory_is_a_value_error(value: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        memory_to_bytes(value)
