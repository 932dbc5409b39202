"""Kubernetes resource quantities ("500m", "0.5", "128Mi", "1G", "1e3"). Pure, no I/O."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, DecimalException

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)


def parse_quantity(value: str | int | float) -> Decimal:
    """Return the quantity as a Decimal; raise ValueError naming the bad text."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"not a finite quantity: {value!r}")
        return number
    match = _PATTERN.match(value.strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r} (expected e.g. '500m', '0.5', '128Mi', '1G')")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    try:
        return number * (Decimal(10) ** int(suffix[1:]))
    except DecimalException as exc:  # an exponent beyond what Decimal holds
        raise ValueError(f"not a quantity: {value!r} (exponent out of range)") from exc


MIN_CPU_LIMIT = 10  # millicores: the kernel's smallest CFS quota (1 ms per 100 ms period)


def _millicores(value: str | int | float) -> int:
    """CPU cores to millicores, rounded up as kubelet does (Quantity.MilliValue)."""
    millis = parse_quantity(value) * 1000
    return int(millis.to_integral_value(rounding=ROUND_CEILING))


def cpu_limit_millis(value: str | int | float) -> int:
    """A CPU limit ("500m", "1.5") in millicores; at least 10m."""
    millis = _millicores(value)
    if millis < MIN_CPU_LIMIT:
        raise ValueError(f"a cpu limit must be at least 10m (0.01 cores), got {value!r}")
    return millis


def cpu_request_millis(value: str | int | float) -> int:
    """A CPU request in millicores."""
    millis = _millicores(value)
    if millis < 0:
        raise ValueError(f"a cpu request cannot be negative, got {value!r}")
    return millis


def memory_to_bytes(value: str | int | float) -> int:
    """Memory ("128Mi", "1G", "5e8") to bytes."""
    amount = parse_quantity(value)
    if amount <= 0:
        raise ValueError(f"memory must be positive, got {value!r}")
    if amount != amount.to_integral_value():
        raise ValueError(f"memory must be a whole number of bytes, got {value!r}")
    return int(amount)


def bytes_quantity(value: int) -> str:
    """Bytes as Kubernetes writes a quantity: the largest binary suffix that divides it
    exactly ("10Mi"), else the largest decimal one ("5M"), else the plain number."""
    for table in (_BINARY, {k: int(v) for k, v in _DECIMAL.items() if v >= 1000}):
        for suffix, size in sorted(table.items(), key=lambda item: -item[1]):
            if value and value % size == 0:
                return f"{value // size}{suffix}"
    return str(value)
