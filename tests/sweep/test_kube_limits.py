"""Issue 14 item 8: what kube-apiserver would refuse is refused at load, at FILE:LINE:COL.

backoffLimit and ttlSecondsAfterFinished are int32 in batch/v1; quantities hold at most
2^63-1 (cpu counted in millicores); env names follow IsEnvVarName; the pod template's
annotations (ktui.dev/params) must fit in 256 KiB; placeholders must be closed."""

from __future__ import annotations

import pytest

from tests.sweep.helpers import error_of, load_text

G = "parameters: {grid: {lr: [0.1]}}\n"
HEAD = "name: s\nimage: i\n"

CASES = [
    ("retries-int32", HEAD + "retries: 2147483648\n" + G,
     "3:10: retries must be at most 2147483647 (backoffLimit is an int32 in a Job), got 2147483648"),
    ("ttl-int32", HEAD + "ttlSecondsAfterFinished: 99999999999\n" + G,
     "3:26: ttlSecondsAfterFinished must be at most 2147483647 (an int32 in a Job), got 99999999999"),
    ("gpu-huge", HEAD + "resources: {gpu: 1e23}\n" + G,
     "3:18: resources.gpu must be at most 9223372036854775807 (Kubernetes quantities are 64-bit), got '1e+23'"),
    ("memory-huge", HEAD + "resources: {memory: 9Ei}\n" + G,
     "3:21: resources.memory must be at most 9223372036854775807 bytes (Kubernetes quantities are 64-bit), got '9Ei'"),
    ("cpu-huge", HEAD + "limits: {cpu: 1e16}\n" + G,
     "3:15: limits.cpu must be at most 9223372036854775807m (Kubernetes counts cpu in 64-bit millicores), got '1e+16'"),
    ("unclosed-placeholder", HEAD + "args: ['--lr={lr']\n" + G,
     "3:8: args[0]: '--lr={lr' has a '{' that is never closed (a placeholder is {name}; write {{ for a literal brace)"),
    ("lone-close-brace", HEAD + "args: ['--lr=lr}']\n" + G,
     "3:8: args[0]: '--lr=lr}' has a '}' that closes nothing (write }} for a literal brace)"),
    ("env-dot-dot", HEAD + "env: {'..x': '1'}\n" + G,
     "3:7: env name '..x' is not a valid environment variable name (it must not start with '..')"),
    ("env-placeholder-unclosed", HEAD + "env: {LR: '{lr'}\n" + G,
     "3:11: env.LR: '{lr' has a '{' that is never closed (a placeholder is {name}; write {{ for a literal brace)"),
    ("params-annotation-too-long", HEAD + "parameters: {list: [{x: " + "a" * 270_000 + "}]}\n",
     "3:21: list[0]: the trial's parameters are 270,008 bytes as the ktui.dev/params annotation; "
     "Kubernetes allows 262,144 bytes of annotations"),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_like_the_api_server(tmp_path, content, expected):
    e = error_of(tmp_path, content)
    assert f"{tmp_path / 's.yaml'}:{expected}" in str(e).splitlines()


def test_flag_command_with_unclosed_placeholder(tmp_path):
    e = error_of(tmp_path, HEAD + G, command=("python", "t.py", "--lr={lr"))
    assert str(e).splitlines() == [
        f"{tmp_path / 's.yaml'}: the command after --: '--lr={{lr' has a '{{' that is never closed (a placeholder is {{name}}; write {{{{ for a literal brace)"
    ]


def test_doubled_braces_stay_literal(tmp_path):
    s = load_text(tmp_path, HEAD + "args: ['{{x}}', '}}', '{{', 'a{lr}b']\n" + G)
    assert s.command_line(s.trial(0).params)[1] == ["{x}", "}", "{", "a0.1b"]


def test_int32_bounds_are_inclusive(tmp_path):
    s = load_text(tmp_path, HEAD + "retries: 2147483647\nttlSecondsAfterFinished: 2147483647\nresources: {gpu: 8}\n" + G)
    assert s.retries == 2147483647 and s.ttl_seconds_after_finished == 2147483647


def test_flag_quantities_out_of_range(tmp_path):
    e = error_of(tmp_path, HEAD + G, cpu="1e20", memory="100Ei")
    assert str(e).splitlines() == [
        f"{tmp_path / 's.yaml'}: --cpu must be at most 9223372036854775807m (Kubernetes counts cpu in 64-bit millicores), got '1e20'",
        f"{tmp_path / 's.yaml'}: --memory must be at most 9223372036854775807 bytes (Kubernetes quantities are 64-bit), got '100Ei'",
    ]
