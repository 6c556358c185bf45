"""Kubernetes resource quantities (`2`, `500m`, `8Gi`, `1e3`), parsed to exact Decimals."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
# The apiserver's grammar: a signed decimal number, then a binary/decimal suffix or an exponent.
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


class QuantityError(ValueError):
    pass


def parse_quantity(text: str) -> Decimal:
    """Parse a non-negative quantity; raises QuantityError with a message fit for a user."""
    value = parse_decimal(text)
    if value < 0:
        raise QuantityError(f"'{text}' must not be negative")
    return value


def parse_decimal(text: str) -> Decimal:
    """The apiserver's quantity grammar, signed, exactly; the one parser every layer uses."""
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


def format_quantity(value: object) -> str:
    """The string form a manifest carries: YAML numbers become their plain text."""
    if isinstance(value, bool):
        raise QuantityError(f"'{str(value).lower()}' is not a quantity")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"'{value}' is not a quantity")
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


# resource.Quantity holds a 64-bit integer; cpu is compared in millicores (MilliValue), so a
# request past these either overflows or is capped by the API server, never what was asked.
MAX_INT64 = 2**63 - 1


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
