"""Pod log text: untrusted bytes made safe to show, and metrics read from it. Pure, no UI."""

from ktui.logtext.metrics import merge_metrics, parse_metrics
from ktui.logtext.sanitize import SafeLine, sanitize

__all__ = ["SafeLine", "merge_metrics", "parse_metrics", "sanitize"]
