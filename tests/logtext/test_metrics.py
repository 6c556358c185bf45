from __future__ import annotations

from ktui.logtext import merge_metrics, parse_metrics


def test_key_value_lines_as_train_py_prints_them():
    assert parse_metrics("epoch=3 loss=0.412 accuracy=0.871") == {"epoch": 3.0, "loss": 0.412, "accuracy": 0.871}


def test_katib_style_spacing_and_dashes():
    assert parse_metrics("val-acc = 0.9, lr=1e-3") == {"val-acc": 0.9, "lr": 0.001}
    assert parse_metrics("Epoch: 3, Loss: 0.25") == {"Epoch": 3.0, "Loss": 0.25}


def test_json_lines():
    assert parse_metrics('{"epoch": 5, "loss": 0.3, "final": true, "model": "CNN", "bad": NaN}') == {"epoch": 5.0, "loss": 0.3}


def test_not_metrics():
    assert parse_metrics("Downloading dataset from http://x/y?id=12ab") == {}
    assert parse_metrics("started at 12:30:01") == {}
    assert parse_metrics("time: 12:30:01") == {}
    assert parse_metrics("plain text") == {}
    assert parse_metrics("{not json}") == {}


def test_colour_codes_do_not_hide_metrics():
    assert parse_metrics("\x1b[32mloss=0.5\x1b[0m") == {"loss": 0.5}


def test_merge_keeps_latest_and_bounds_keys():
    latest: dict[str, float] = {}
    for line in ["epoch=1 loss=0.9", "noise", "epoch=2 loss=0.5"]:
        merge_metrics(latest, parse_metrics(line))
    assert latest == {"epoch": 2.0, "loss": 0.5}
    for i in range(200):
        merge_metrics(latest, parse_metrics(f"k{i}=1"))
    assert len(latest) == 64 and latest["loss"] == 0.5
