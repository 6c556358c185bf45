"""Name rules the API server enforces, checked before anything is submitted."""

from __future__ import annotations

import functools
import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

# A Job's name also becomes the `job-name` label on its pods, so it must fit a label (63).
MAX_JOB_NAME = 63


def dns1123_label_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if len(name) > 63:
        return f"'{name}' is {len(name)} characters; a DNS-1123 label has at most 63"
    if not DNS1123_LABEL.match(name):
        return (
            f"'{name}' is not a DNS-1123 label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return f"'{value}' is longer than 63 characters (a label value)"
    if not LABEL_VALUE.match(value):
        return f"'{value}' is not a valid label value (letters, digits, '-', '_', '.')"
    return None


def env_name_problem(name: str) -> str | None:
    """kube-apiserver's IsEnvVarName: the pattern, and no `.`/`..` (they read as paths)."""
    if not ENV_NAME.match(name):
        return f"env name '{name}' is not a valid environment variable name"
    if name in (".", ".."):
        return f"env name '{name}' is not a valid environment variable name (it must not be '{name}')"
    if name.startswith(".."):
        return f"env name '{name}' is not a valid environment variable name (it must not start with '..')"
    return None


@functools.lru_cache(maxsize=4096)
def env_suffix(param: str) -> str:
    """`learning-rate` -> `LEARNING_RATE`, for KTUI_PARAM_<NAME>."""
    return re.sub(r"[^A-Za-z0-9_]", "_", param).upper()


def sanitize_name(text: str) -> str:
    """Best-effort DNS-1123 label from a file stem: `My Params_v2` -> `my-params-v2`."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)[:40].strip("-")
    return s or "sweep"
