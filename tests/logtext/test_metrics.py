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


# -- what frameworks really print (issue 16) ------------------------------------------------

import pytest  # noqa: E402

from ktui.logtext.history import MAX_POINTS, TrialMetrics  # noqa: E402
from ktui.logtext.metrics import MAX_METRICS, MetricReader  # noqa: E402

REAL_LINES = [
    # Katib's StdOut collector grammar, as its MXNet example prints it
    ("INFO:root:Epoch[1] Batch [100]\tSpeed: 1234.56 samples/sec\taccuracy=0.937500",
     {"Speed": 1234.56, "accuracy": 0.9375}),
    ("INFO:root:Epoch[1] Validation-accuracy=0.956250", {"Validation-accuracy": 0.95625}),
    # Keras 2 and Keras 3 epoch lines
    ("938/938 [==============================] - 3s 3ms/step - loss: 0.2938 - accuracy: 0.9142"
     " - val_loss: 0.1420 - val_accuracy: 0.9570",
     {"loss": 0.2938, "accuracy": 0.9142, "val_loss": 0.142, "val_accuracy": 0.957}),
    ("938/938 ━━━━━━━━━━━━━━━━━━━━ 3s 3ms/step - accuracy: 0.8613 - loss: 0.4765 - val_accuracy: 0.9591"
     " - val_loss: 0.1379",
     {"accuracy": 0.8613, "loss": 0.4765, "val_accuracy": 0.9591, "val_loss": 0.1379}),
    # Katib's file collector writes numeric strings
    ('{"acc": "0.91", "loss": 0.3, "model": "resnet50", "version": "1.2.3"}', {"acc": 0.91, "loss": 0.3}),
    # Hugging Face Trainer's log and eval dicts
    ("{'loss': 0.6931, 'grad_norm': 1.2345, 'learning_rate': 4.5e-05, 'epoch': 0.5}",
     {"loss": 0.6931, "grad_norm": 1.2345, "learning_rate": 4.5e-05, "epoch": 0.5}),
    ("{'eval_loss': 0.52, 'eval_accuracy': 0.88, 'eval_runtime': 1.23, 'epoch': 2.0}",
     {"eval_loss": 0.52, "eval_accuracy": 0.88, "eval_runtime": 1.23, "epoch": 2.0}),
    # Lightning's progress bar: \r-separated updates, the latest wins; v_num is no metric
    ("Epoch 0:  50%|█████     | 938/1875 [00:07<00:07, 125.3it/s, loss=0.234, v_num=1]\r"
     "Epoch 0: 100%|██████████| 1875/1875 [00:15<00:00, 120.50it/s, loss=0.123, v_num=1]",
     {"loss": 0.123}),
    ("Epoch 1: 100%|██████████| 1875/1875 [00:15<00:00, 120.50it/s, v_num=0, train_loss=0.123, val_acc=0.95]",
     {"train_loss": 0.123, "val_acc": 0.95}),
    ("100%|██████████| 50/50 [00:01<00:00, 45.20it/s, loss=0.0512]", {"loss": 0.0512}),
    # a logging prefix with a date and a time
    ("2024-05-01 12:30:45,123 - INFO - step=100 loss=0.412", {"step": 100.0, "loss": 0.412}),
    ("INFO:__main__:loss=0.5", {"loss": 0.5}),
]

NOT_METRICS = [
    "GET https://example.com/api/items?page=2&size=50 200",
    "fetching /api/items?page=2&size=50",
    "Using device: cuda:0",
    "started at 12:30:45",
    "date: 2024-05-01",
    "date=2024-05-01",
    "torch version v1.2.3",
    "version=1.2.3",
    "connecting to localhost:8080",
    "redis at host:6379",
    "train.py:123: UserWarning: the learning rate scheduler was called first",
    'File "train.py", line 123, in <module>',
    "['i=0', 'j=1']",
    "\x00\x01\x02\x03\x04\x05ab=1\x06\x07\x00\x00",
    "id=12ab",
    "lr schedule: cosine",
]


@pytest.mark.parametrize(("line", "expected"), REAL_LINES)
def test_real_framework_lines(line, expected):
    assert parse_metrics(line) == expected


@pytest.mark.parametrize("line", NOT_METRICS)
def test_not_a_metric(line):
    assert parse_metrics(line) == {}


def test_steps_from_the_line_from_epoch_headers_or_from_order():
    r = MetricReader()
    keras = ["Epoch 1/2", "938/938 [====] - 3s - loss: 0.29", "Epoch 2/2", "938/938 [====] - 3s - loss: 0.14"]
    assert [x.step for x in map(r.feed, keras) if x is not None] == [1.0, 2.0]
    r = MetricReader()
    assert r.feed("{'loss': 0.69, 'epoch': 0.5}").step == 0.5
    assert r.feed("step=100 global_step=7 loss=0.4").step == 100.0  # step first
    r = MetricReader()
    assert [r.feed(f"loss={x}").step for x in (0.9, 0.8, 0.7)] == [1.0, 2.0, 3.0]


def test_history_is_bounded_and_keeps_the_ends_and_the_best():
    m = TrialMetrics()
    n = 50_000
    assert m.feed(f"step={i} loss={1 / (i + 1):.6f}" for i in range(n))
    s = m.series["loss"]
    pts = s.points()
    assert len(pts) <= MAX_POINTS + 1
    assert pts[0][0] == 0.0 and pts[-1][0] == n - 1
    assert all(a[0] < b[0] for a, b in zip(pts, pts[1:], strict=False))  # in step order, evenly thinned
    assert s.best(maximize=False) == pytest.approx(1 / n, rel=1e-3) and s.best(maximize=True) == 1.0
    assert m.latest["loss"] == pytest.approx(1 / n, rel=1e-3)


def test_bad_input_stays_bounded():
    m = TrialMetrics()
    m.feed(f"k{i}=1" for i in range(100_000))
    assert len(m.latest) == MAX_METRICS and len(m.series) == MAX_METRICS
    huge = "x" * 10_000_000 + " loss=0.5"
    assert parse_metrics(huge) == {"loss": 0.5}  # its end is read
    assert parse_metrics("\x00" * 1_000_000) == {}
