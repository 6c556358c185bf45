"""Log line parsing and the resume bookkeeping, without a server."""

from __future__ import annotations

from ktui.cluster.kube.logs import _Dedup, parse_timestamp, since_time, split_line

from .helpers import fixture


def test_parse_timestamp_nanoseconds_and_trimmed_fractions():
    a = parse_timestamp("2026-11-29T15:25:42.329360485Z")
    b = parse_timestamp("2026-11-29T15:25:42.3Z")
    c = parse_timestamp("2026-11-29T15:25:42Z")
    assert a is not None and b is not None and c is not None
    assert a - c == 329_360_485 and b - c == 300_000_000
    # String order would put "42.3Z" after "42.329360485Z"; integers do not.
    assert c < b < a
    assert parse_timestamp("2026-11-29T16:25:42+01:00") == c
    for bad in ("", "hello world", "2026-13-29T15:25:42Z", "2026-11-29T15:25:42"):
        assert parse_timestamp(bad) is None


def test_since_time_rounds_down_to_the_second():
    ns = parse_timestamp("2026-11-29T15:25:42.999Z")
    assert ns is not None and since_time(ns) == "2026-11-29T15:25:42Z"


def test_split_line_keeps_bytes_untouched():
    ts, ns, text = split_line(b"2026-11-29T15:25:42.1Z \x1b[31mred\x1b[0m \xff tail  ")
    assert ts == "2026-11-29T15:25:42.1Z" and ns is not None
    assert text == "\x1b[31mred\x1b[0m \udcff tail  "  # the byte kept, for `ktui logs --raw`
    assert split_line(b"no timestamp here") == (None, None, "no timestamp here")
    ts, ns, text = split_line(b"2026-11-29T15:25:42.1Z ")
    assert text == "" and ns is not None


def test_reference_log_parses():
    lines = fixture("log-ok-job-timestamps.txt").splitlines()
    parsed = [split_line(raw) for raw in lines]
    assert all(ns is not None for _, ns, _ in parsed)
    stamps = [ns for _, ns, _ in parsed]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert parsed[0][2] == "$ python train.py --lr 0.01"


def _feed(d: _Dedup, stamps: list[int]) -> list[int]:
    return [i for i, s in enumerate(stamps) if d.accept(s, str(s))]


def test_dedup_resume_skips_exactly_what_was_delivered():
    # Three lines share a timestamp; the drop happened after the second of them.
    stream = [10, 20, 30, 30, 30, 40]
    d = _Dedup()
    assert _feed(d, stream[:4]) == [0, 1, 2, 3]
    d.resume()
    # The server resends from the start of the second: everything from 10 again.
    assert [stream[i] for i in _feed(d, stream)] == [30, 40]
    d.resume()
    assert _feed(d, stream) == []  # nothing new after a second resume


def test_dedup_lines_without_timestamps_always_pass():
    d = _Dedup()
    assert d.accept(None, "") and d.accept(None, "")
