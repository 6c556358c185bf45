"""Pod log text: untrusted bytes made safe to show, and metrics read from it. Pure, no UI."""

from ktui.logtext.metrics import MetricParser, parse_metrics
from ktui.logtext.sanitize import SafeLine, sanitize

__all__ = ["MetricParser", "SafeLine", "parse_metrics", "sanitize"]
