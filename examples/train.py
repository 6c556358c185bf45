#!/usr/bin/env python3
"""A tiny stand-in for a training script (stdlib only).

    python train.py model=CNN-01 weight=0.5 depth=2
    python train.py --lr=0.01 --depth=3 --epochs=8

Takes `key=value` or `--key=value` arguments, "trains" for a few seconds and prints one
progress line per epoch (`epoch=3 loss=0.412 accuracy=0.871`), then a JSON summary line.
Invalid parameters make it exit with status 2, as a real script's argument check would.
Set `epoch-seconds=0.1` (or KTUI_EPOCH_SECONDS) to make it faster.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time

ACTIVATIONS = {"relu", "tanh", "softmax", "sigmoid", "gelu"}


def parse_args(argv: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for arg in argv:
        key, eq, value = arg.removeprefix("--").partition("=")
        if not eq or not key:
            raise ValueError(f"argument {arg!r} is not key=value")
        params[key] = value
    return params


def number(params: dict[str, str], key: str, default: float, low: float, high: float, integer: bool = False) -> float:
    text = params.get(key)
    if text is None:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{key}={text!r} is not {kind}") from None
    if not (low <= value <= high) or (not integer and math.isnan(value)):
        raise ValueError(f"{key}={text} is out of range [{low:g}, {high:g}]")
    return value


def main(argv: list[str]) -> int:
    try:
        p = parse_args(argv)
        epochs = int(number(p, "epochs", 5, 1, 10_000, integer=True))
        lr = number(p, "lr", 0.01, 1e-8, 10.0)
        depth = int(number(p, "depth", 2, 1, 1000, integer=True))
        layers = int(number(p, "layers", depth, 1, 1000, integer=True))
        weight = number(p, "weight", 0.5, 1e-9, 1.0)
        dropout = number(p, "dropout", 0.0, 0.0, 0.99)
        seed = int(number(p, "seed", 0, 0, 2**31, integer=True))
        default_pause = float(os.environ.get("KTUI_EPOCH_SECONDS", "0.6"))
        pause = number(p, "epoch-seconds", default_pause, 0.0, 3600.0)
        act = p.get("act", "relu")
        if act not in ACTIVATIONS:
            raise ValueError(f"act={act!r} is not one of {', '.join(sorted(ACTIVATIONS))}")
    except ValueError as e:
        print(f"train.py: invalid parameter: {e}", file=sys.stderr, flush=True)
        return 2

    # The "quality" of a configuration is a stable function of its parameters, so the same
    # trial always ends with the same accuracy and a sweep has a real best trial.
    digest = hashlib.sha256(json.dumps(sorted(p.items())).encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big") + seed)
    lr_fit = math.exp(-((math.log10(lr) + 2.0) ** 2))  # best near lr=0.01
    ceiling = 0.55 + 0.35 * lr_fit + 0.04 * min(layers, 4) / 4 + 0.03 * weight - 0.05 * dropout
    ceiling = max(0.3, min(0.99, ceiling + rng.uniform(-0.03, 0.03)))

    print(f"train.py: model={p.get('model', 'MLP')} params={json.dumps(p, sort_keys=True)}", flush=True)
    loss = accuracy = 0.0
    for epoch in range(1, epochs + 1):
        time.sleep(pause)
        progress = 1 - math.exp(-3.0 * epoch / epochs)
        accuracy = round(min(0.999, 0.1 + (ceiling - 0.1) * progress + rng.uniform(-0.01, 0.01)), 3)
        loss = round(max(0.001, (1 - accuracy) * 2.2 + rng.uniform(0, 0.02)), 3)
        print(f"epoch={epoch} loss={loss} accuracy={accuracy}", flush=True)
    print(json.dumps({"epoch": epochs, "loss": loss, "accuracy": accuracy, "final": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
