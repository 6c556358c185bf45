"""Kubernetes resource quantities (`2`, `500m`, `8Gi`, `1e3`): the one module every layer
uses, so a quantity means the same in a sweep file, in the store and in the simulator.

- the API server's grammar, exactly (`parse_decimal`), and the sweep file's checks on it
  (`parse_quantity`: not negative; `range_problem`: what a 64-bit Quantity cannot hold);
- integer values rounded up the way the server rounds (a request of "0.1m" still reserves
  1m): strict (`milli`, `whole`: raise QuantityError, for the simulator's validation) and
  lenient (`cpu_millis`, `to_int`: 0 for a bad value, so one odd object never stops a
  reflector decoding thousands of others); the same few strings recur on every pod, so
  both are memoised, in bounded caches;
- text: kubectl-style for people (`format_cpu`, `format_bytes`), the metrics API's units
  (`format_cpu_nano`, `format_mem_ki`), and a manifest's form of a YAML number
  (`format_quantity`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
# The apiserver's grammar: a signed decimal number, then a binary/decimal suffix or an exponent.
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
# The regular expression kube-apiserver quotes when a quantity does not parse.
QUANTITY_RE_TEXT = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
# resource.Quantity holds a 64-bit integer; cpu is compared in millicores (MilliValue), so a
# request past these either overflows or is capped by the API server, never what was asked.
MAX_INT64 = 2**63 - 1
_CACHE_MAX = 4096


class QuantityError(ValueError):
    pass


# ---- the grammar


def parse_decimal(text: str) -> Decimal:
    """The apiserver's quantity grammar, signed, exactly."""
    m = _QUANTITY.match(text.strip())
    if not m:
        raise QuantityError(f"'{text}' is not a quantity (examples: 2, 500m, 8Gi, 512Mi)")
    number, suffix = m.group(1), m.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"'{text}' is not a quantity") from None
    if suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix in _DECIMAL:  # before the exponent form: a bare "E" is exa
        value *= _DECIMAL[suffix]
    else:
        value *= Decimal(10) ** int(suffix[1:])
    return value


def parse_quantity(text: str) -> Decimal:
    """Parse a non-negative quantity; raises QuantityError with a message fit for a user."""
    value = parse_decimal(text)
    if value < 0:
        raise QuantityError(f"'{text}' must not be negative")
    return value


def range_problem(resource: str, value: Decimal, shown: str) -> str | None:
    """`must be at most ...` for a quantity Kubernetes cannot hold, else None."""
    if resource == "cpu":
        if value * 1000 > MAX_INT64:
            return f"must be at most {MAX_INT64}m (Kubernetes counts cpu in 64-bit millicores), got '{shown}'"
        return None
    if value > MAX_INT64:
        unit = " bytes" if resource == "memory" else ""
        return f"must be at most {MAX_INT64}{unit} (Kubernetes quantities are 64-bit), got '{shown}'"
    return None


# ---- exact and rounded-up values, strict


def parse(value: object) -> Fraction:
    """A quantity (a manifest's str, or a JSON number) as an exact Fraction."""
    if isinstance(value, bool):
        raise QuantityError(str(value))
    if isinstance(value, (int, float)):
        return Fraction(value)
    return _parse_text(str(value))


@lru_cache(maxsize=_CACHE_MAX)
def _parse_text(value: str) -> Fraction:
    return Fraction(parse_decimal(value))


def milli(value: object) -> int:
    """CPU in millicores, rounded up like Quantity.MilliValue()."""
    if isinstance(value, str):
        return _milli_text(value)
    return math.ceil(parse(value) * 1000)


def whole(value: object) -> int:
    """Memory in bytes / extended resources as integers, rounded up like Quantity.Value()."""
    if isinstance(value, str):
        return _whole_text(value)
    return math.ceil(parse(value))


@lru_cache(maxsize=_CACHE_MAX)
def _milli_text(value: str) -> int:
    return math.ceil(_parse_text(value) * 1000)


@lru_cache(maxsize=_CACHE_MAX)
def _whole_text(value: str) -> int:
    return math.ceil(_parse_text(value))


# ---- rounded-up values, lenient (the decoders' hot path: a dict hit per field)

_lenient_caches: dict[int, dict[str, int]] = {1: {}, 1000: {}}
_cpu_cache = _lenient_caches[1000]
_int_cache = _lenient_caches[1]


def _lenient(q: str | int | float | None, scale: int) -> int:
    if q is None:
        return 0
    text = q if isinstance(q, str) else str(q)
    cache = _lenient_caches[scale]
    hit = cache.get(text)
    if hit is not None:
        return hit
    try:
        result = int((parse_decimal(text) * scale).to_integral_value(rounding="ROUND_CEILING"))
    except (InvalidOperation, ValueError):  # QuantityError is a ValueError
        result = 0
    if len(cache) >= _CACHE_MAX:
        cache.clear()  # bounded: a hostile or buggy server cannot grow it without limit
    cache[text] = result
    return result


def cpu_millis(q: str | int | float | None) -> int:
    """CPU in millicores, rounded up; 0 for None or a value that does not parse."""
    if isinstance(q, str):
        hit = _cpu_cache.get(q)
        if hit is not None:
            return hit
    return _lenient(q, 1000)


def to_int(q: str | int | float | None) -> int:
    """Bytes or a count, rounded up; 0 for None or a value that does not parse."""
    if isinstance(q, str):
        hit = _int_cache.get(q)
        if hit is not None:
            return hit
    return _lenient(q, 1)


# ---- text


def format_cpu(millis: int) -> str:
    """Millicores as kubectl-style text: 2500 -> "2.5", 250 -> "250m"."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    if millis >= 1000:
        return f"{millis / 1000:.1f}"
    return f"{millis}m"


def format_bytes(n: int) -> str:
    """Bytes in binary units with one decimal: 8589934592 -> "8.0Gi"."""
    for unit, size in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    if n >= 1024:
        return f"{n / 1024:.1f}Ki"
    return str(n)


def format_cpu_nano(nanocores: int) -> str:
    """The metrics API's cpu usage unit."""
    return f"{max(0, int(nanocores))}n"


def format_mem_ki(num_bytes: int) -> str:
    """The metrics API's memory usage unit."""
    return f"{max(0, int(num_bytes)) // 1024}Ki"


def format_quantity(value: object) -> str:
    """The string form a manifest carries: YAML numbers become their plain text."""
    if isinstance(value, bool):
        raise QuantityError(f"'{str(value).lower()}' is not a quantity")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"'{value}' is not a quantity")
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)
