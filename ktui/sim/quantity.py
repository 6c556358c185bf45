"""resource.Quantity parsing and formatting (only what scheduling and metrics need)."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from ktui.sweep.quantity import QuantityError, parse_decimal

# Same regular expression kube-apiserver quotes when a quantity does not parse.
QUANTITY_RE_TEXT = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

def parse(value: object) -> Fraction:
    if isinstance(value, bool):
        raise QuantityError(str(value))
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    return _parse_text(str(value))


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> Fraction:
    # The same few quantities ("4", "16Gi") recur on every pod: cache them.
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


@lru_cache(maxsize=4096)
def _milli_text(value: str) -> int:
    return math.ceil(_parse_text(value) * 1000)


@lru_cache(maxsize=4096)
def _whole_text(value: str) -> int:
    return math.ceil(_parse_text(value))


def format_cpu_nano(nanocores: int) -> str:
    return f"{max(0, int(nanocores))}n"


def format_mem_ki(num_bytes: int) -> str:
    return f"{max(0, int(num_bytes)) // 1024}Ki"


def format_milli(millicores: int) -> str:
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_bytes(num_bytes: int) -> str:
    for suffix, factor in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30),
                           ("Mi", 2**20), ("Ki", 2**10)):
        if num_bytes and num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)
