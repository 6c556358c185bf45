"""Kubernetes resource quantities ("500m", "1.5", "8Gi", "1e3") as integers.

CPU is kept in millicores and everything else in base units (bytes, devices), rounded up the
way the API server rounds (a request of "0.1m" still reserves 1m). The same few strings repeat
across thousands of pods, so results are memoised.
"""

from __future__ import annotations

from decimal import InvalidOperation

from ktui.sweep.quantity import parse_decimal

# Bounded so a hostile or buggy server cannot grow them without limit.
_CACHE_MAX = 4096
_caches: dict[int, dict[str, int]] = {1: {}, 1000: {}}


def _slow(q: str, scale: int, cache: dict[str, int]) -> int:
    try:
        value = parse_decimal(q) * scale
        result = int(value.to_integral_value(rounding="ROUND_CEILING"))
    except (InvalidOperation, ValueError):  # QuantityError is a ValueError
        result = 0
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[q] = result
    return result


def parse_quantity(q: str | int | float | None, scale: int = 1) -> int:
    """Return ``q * scale`` rounded up to an integer; 0 for None or an unparsable value.

    ``scale=1000`` gives millicores for CPU. Unparsable values count as 0 rather than raising:
    one odd object must not stop the reflector that decodes thousands of others.
    """
    if q is None:
        return 0
    if not isinstance(q, str):
        q = str(q)
    cache = _caches.get(scale)
    if cache is None:
        cache = _caches.setdefault(scale, {})
    hit = cache.get(q)
    return hit if hit is not None else _slow(q, scale, cache)


_cpu_cache = _caches[1000]
_int_cache = _caches[1]


def cpu_millis(q: str | int | float | None) -> int:
    if isinstance(q, str):
        hit = _cpu_cache.get(q)
        if hit is not None:
            return hit
    return parse_quantity(q, 1000)


def to_int(q: str | int | float | None) -> int:
    if isinstance(q, str):
        hit = _int_cache.get(q)
        if hit is not None:
            return hit
    return parse_quantity(q, 1)


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
