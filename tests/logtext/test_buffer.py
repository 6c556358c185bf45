from __future__ import annotations

import threading

from ktui.logtext.buffer import LogBuffer


def test_bounded_and_counts_dropped_lines():
    b = LogBuffer(max_lines=1000)
    for start in range(0, 5000, 100):
        b.feed([f"line {i}" for i in range(start, start + 100)])
        b.drain()
    assert len(b.lines) <= 1000
    assert b.lines[-1] == "line 4999"
    assert b.lines[0] == f"line {b.dropped}"


def test_one_huge_batch_keeps_the_tail():
    b = LogBuffer(max_lines=10)
    b.feed([str(i) for i in range(25)])
    assert b.drain() == (25, 15)
    assert b.lines == [str(i) for i in range(15, 25)] and b.dropped == 15


def test_concurrent_writers_lose_nothing():
    b = LogBuffer(max_lines=1_000_000)

    def write(w: int) -> None:
        for i in range(2000):
            b.feed([f"{w}:{i}"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    seen = 0
    while any(t.is_alive() for t in threads):
        seen += b.drain()[0]
    for t in threads:
        t.join()
    seen += b.drain()[0]
    assert seen == 8000 and len(set(b.lines)) == 8000


def test_lines_are_made_inert_by_the_feeding_thread():
    b = LogBuffer()
    t = threading.Thread(target=b.feed, args=(["ok \x1b[2J \x1b[31mred\x1b[0m", "wide 日本"],))
    t.start()
    t.join()
    b.drain()
    assert b.lines[0] == "ok \x1b[2J \x1b[31mred\x1b[0m"  # saved as received
    (first, w1), (second, w2) = b.safe
    assert first.text == "ok ^[[2J red" and w1 == len(first.text)
    assert second.text == "wide 日本" and w2 == 9  # cells, not characters
