"""Make an untrusted log line inert before it reaches a terminal.

A pod can print anything: cursor moves, screen clears, OSC window titles, OSC 52 clipboard
writes, DCS payloads, 8-bit C1 controls. None of it may reach the user's terminal. We
tokenise the line ourselves rather than trust a general ANSI decoder (Rich's `from_ansi`
keeps OSC payloads as text and knows nothing of C1): SGR colour sequences become styles from
a small safe subset, every other sequence and control character is shown as inert, dimmed
caret notation (`^[[2J`), so the user still sees that something was there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ESC-introduced sequences, longest forms first. OSC/DCS/SOS/PM/APC run to BEL or ST;
# an unterminated one runs to the end of the line (it would swallow output on a terminal).
_SEQUENCE = re.compile(
    r"""
    \x1b\[ (?P<csi_params>[0-?]*) (?P<csi_inter>[ -/]*) (?P<csi_final>[@-~])   # CSI
  | \x1b[\]PX^_] .*? (?:\x07|\x1b\\|$)                                      # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]* [0-~]                                                          # other escapes (nF, Fp, Fe, Fs)
  | \x1b                                                                      # a lone ESC
  | [\x80-\x9f]                                                               # C1 controls, e.g. 8-bit CSI
  | [\x00-\x08\x0a-\x1f\x7f]                                                  # C0 controls (not tab)
  | [\udc80-\udcff]                                                          # bytes that were not UTF-8
    """,
    re.VERBOSE | re.DOTALL,
)

def decode_log(raw: bytes) -> str:
    """Log bytes as text. Bytes that are not UTF-8 are kept (as lone surrogates), so the
    line can be written back byte for byte (``encode_log``); ``sanitize`` shows them inert."""
    return raw.decode("utf-8", "surrogateescape")


def encode_log(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]
MAX_LINE = 10_000  # a single runaway line must not cost a frame


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    style: str  # a Rich style string from the safe subset, or "inert" for neutralised bytes


@dataclass(frozen=True)
class SafeLine:
    """Printable text (no control characters at all) plus style spans over it."""

    text: str
    spans: tuple[Span, ...] = ()


def _caret(s: str) -> str:
    out = []
    for ch in s:
        o = ord(ch)
        if o < 0x20:
            out.append("^" + chr(o + 0x40))
        elif o == 0x7F:
            out.append("^?")
        elif 0x80 <= o <= 0x9F:
            out.append(f"<U+{o:04X}>")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte kept by decode_log: show it, never send it
            out.append(f"\\x{o - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _sgr_style(params: str, current: list[str]) -> list[str]:
    """Apply one SGR sequence to the running list of style words (safe subset only)."""
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    style = list(current)
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style = []
        elif c in (1, 2, 3, 4, 7, 9):
            style.append({1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse", 9: "strike"}[c])
        elif c in (22, 23, 24, 27, 29):
            drop = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",), 29: ("strike",)}[c]
            style = [s for s in style if s not in drop]
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style = [s for s in style if not s.startswith("color:")]
            name = _BASIC[c % 10]
            style.append("color:" + ("bright_" + name if c >= 90 else name))
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style = [s for s in style if not s.startswith("on:")]
            name = _BASIC[c % 10]
            style.append("on:" + ("bright_" + name if c >= 100 else name))
        elif c in (39, 49):
            prefix = "color:" if c == 39 else "on:"
            style = [s for s in style if not s.startswith(prefix)]
        elif c in (38, 48) and i + 1 < len(codes):
            prefix = "color:" if c == 38 else "on:"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                n = codes[i + 2]
                i += 2
                if 0 <= n <= 255:
                    style = [s for s in style if not s.startswith(prefix)] + [f"{prefix}color({n})"]
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                r, g, b = codes[i + 2 : i + 5]
                i += 4
                if max(r, g, b) <= 255:
                    style = [s for s in style if not s.startswith(prefix)] + [f"{prefix}rgb({r},{g},{b})"]
        i += 1
    return style


def _style_string(words: list[str]) -> str:
    out = []
    for w in words:
        if w.startswith("color:"):
            out.append(w[6:])
        elif w.startswith("on:"):
            out.append("on " + w[3:])
        else:
            out.append(w)
    return " ".join(out)


def sanitize(line: str, colors: bool = True, tab_size: int = 8) -> SafeLine:
    """One log line (without its newline) -> inert printable text and safe style spans."""
    if "\r" in line:
        # A carriage return redraws the line in a terminal (tqdm progress bars);
        # show what the terminal would show: the text after the last one.
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE] + f" … [{len(line) - MAX_LINE:,} more characters]"
    text: list[str] = []
    spans: list[Span] = []
    pos = 0
    style: list[str] = []
    style_start = 0

    def close_style() -> None:
        if style and pos > style_start:
            spans.append(Span(style_start, pos, _style_string(style)))

    def emit(s: str) -> None:
        nonlocal pos
        text.append(s)
        pos += len(s)

    last = 0
    for m in _SEQUENCE.finditer(line):
        chunk = line[last : m.start()]
        if chunk:
            emit(chunk)
        last = m.end()
        seq = m.group(0)
        if m.group("csi_final") == "m" and not m.group("csi_inter"):
            if colors:
                close_style()
                style = _sgr_style(m.group("csi_params"), style)
                style_start = pos
            continue
        start = pos
        emit(_caret(seq))
        spans.append(Span(start, pos, "inert"))
    tail = line[last:]
    if tail:
        emit(tail)
    close_style()
    out = "".join(text)
    if "\t" in out:
        out, spans = _expand_tabs(out, spans, tab_size)
    return SafeLine(out, tuple(spans))


def _expand_tabs(text: str, spans: list[Span], tab_size: int) -> tuple[str, list[Span]]:
    mapping = []
    out: list[str] = []
    col = 0
    for ch in text:
        mapping.append(col)
        if ch == "\t":
            n = tab_size - (col % tab_size)
            out.append(" " * n)
            col += n
        else:
            out.append(ch)
            col += 1
    mapping.append(col)
    return "".join(out), [Span(mapping[s.start], mapping[s.end], s.style) for s in spans]
