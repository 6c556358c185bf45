"""Untrusted log text never reaches the terminal as a control sequence."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.logtext import sanitize

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

ATTACKS = {
    "clear screen": "\x1b[2J\x1b[H",
    "cursor move": "\x1b[10;20H",
    "window title": "\x1b]0;pwned\x07",
    "clipboard write": "\x1b]52;c;cm0gLXJmIH4=\x1b\\",
    "hyperlink": "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
    "dcs": "\x1bP+q544e\x1b\\",
    "8-bit csi": "\x9b2J",
    "alt screen": "\x1b[?1049h",
    "unterminated osc": "\x1b]0;title without end",
    "bell and backspace": "a\x07\x08b",
}


def test_attacks_render_inert_and_visible():
    for name, seq in ATTACKS.items():
        line = sanitize(f"before {seq} after")
        assert not CONTROL.search(line.text), name
        assert line.text.startswith("before ") and (line.text.endswith(" after") or name == "unterminated osc"), name
        assert any(s.style == "inert" for s in line.spans), name


def test_sgr_colours_become_safe_styles():
    line = sanitize("\x1b[1;31mERROR\x1b[0m ok \x1b[38;5;208morange\x1b[39m \x1b[38;2;1;2;3mrgb\x1b[m")
    assert line.text == "ERROR ok orange rgb"
    assert [(line.text[s.start:s.end], s.style) for s in line.spans] == [
        ("ERROR", "bold red"), ("orange", "color(208)"), ("rgb", "rgb(1,2,3)")]


def test_colours_can_be_dropped():
    assert sanitize("\x1b[31mred\x1b[0m", colors=False).spans == ()


def test_carriage_return_shows_what_a_terminal_would():
    assert sanitize(" 10%|#  | 1/10\r 20%|## | 2/10").text == " 20%|## | 2/10"


def test_tabs_expand_and_spans_follow():
    line = sanitize("a\tb\x1b[2Jc")
    assert line.text == "a       b^[[2Jc"
    assert [line.text[s.start:s.end] for s in line.spans] == ["^[[2J"]


def test_runaway_line_is_cut():
    assert len(sanitize("x" * 50_000).text) < 10_100


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_no_control_character_survives(s):
    line = sanitize(s)
    assert not CONTROL.search(line.text)
    assert all(0 <= sp.start <= sp.end <= len(line.text) for sp in line.spans)


def test_bytes_that_are_not_utf8_are_kept_for_raw_and_shown_inert():
    from ktui.logtext.sanitize import decode_log, encode_log

    raw = b"loss=0.1 \xff\xfe\x80 ok"
    text = decode_log(raw)
    assert encode_log(text) == raw
    safe = sanitize(text)
    assert safe.text == "loss=0.1 \\xff\\xfe\\x80 ok"
    assert all(ch.isprintable() for ch in safe.text)
    assert [s.style for s in safe.spans] == ["inert"] * 3
