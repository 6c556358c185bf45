"""No credential value is ever printed, whatever is wrong with the kubeconfig (issue 14,
item 15): the message names the field and the file instead."""

from __future__ import annotations

import base64

import pytest

from ktui.cli import main

MARK = "Zm9vc2VjcmV0bWFyazEyMzQ"  # base64-looking, as a key or token is
FIELDS = ["token", "client-key-data", "client-certificate-data", "password"]

# How a value gets broken in real files: a tag, an alias, an anchor, an unclosed flow
# collection or quote, a stray colon, tabs, data that is not base64.
CORRUPTIONS = [
    "!{m}", "*{m}", "&{m}", "!!binary {m}", "[{m}", "{{{m}", "'{m}", '"{m}', "{m}: x", "@{m}", "`{m}",
    "{m}\t: x", "{m}===", "{m}!!!not-base64",
]


def _kubeconfig(field: str, raw_value: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
        f"    certificate-authority-data: {base64.b64encode(b'not a cert').decode()}\n"
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\n"
        f"users:\n- name: u\n  user:\n    {field}: {raw_value}\n"
    )


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize("field", FIELDS)
def test_a_corrupted_value_is_never_echoed(tmp_path, capsys, monkeypatch, field, corruption):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    kc = tmp_path / "kubeconfig"
    kc.write_text(_kubeconfig(field, corruption.format(m=MARK)))
    rc = main(["jobs", "--kubeconfig", str(kc)])
    out, err = capsys.readouterr()
    assert rc != 0
    for text in (out, err):
        assert MARK not in text and MARK[:12] not in text, text
    assert str(kc) in err or err.startswith("ktui: cannot reach the cluster"), err  # (a well-formed token)


def test_a_yaml_problem_names_the_field_file_and_place(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    kc = tmp_path / "kubeconfig"
    kc.write_text(_kubeconfig("client-key-data", "!" + MARK))
    assert main(["jobs", "--kubeconfig", str(kc)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"ktui: kubeconfig {kc}: the value of 'client-key-data' at line 15, column 22 is not valid "
                   "YAML (a value starting with ! * & @ ` | > % must be quoted); the value is not shown")
