"""Loading credentials through the official client, kubectl's way."""

from __future__ import annotations

import pytest
import yaml

from ktui.cluster.kube import config as kconfig

TOKEN = "s3cr3t-token-do-not-print"


def _write(path, contexts, current="a"):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "alice", "user": {"token": TOKEN}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "alice", **extra}}
                     for n, extra in contexts.items()],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_namespace_from_context_flag_or_default(tmp_path):
    kc = _write(tmp_path / "kc", {"a": {"namespace": "team"}, "b": {}})
    cfg = kconfig.load(str(kc))
    assert (cfg.context, cfg.namespace, cfg.server, cfg.user) == ("a", "team", "https://127.0.0.1:6443", "alice")
    assert cfg.api_client.configuration.api_key["BearerToken"].endswith(TOKEN)
    assert kconfig.load(str(kc), context="b").namespace == "default"
    assert kconfig.load(str(kc), context="a", namespace="other").namespace == "other"
    assert TOKEN not in cfg.describe() and TOKEN not in repr(cfg)


def test_kubeconfig_env_is_a_path_list(tmp_path, monkeypatch):
    kc = _write(tmp_path / "kc", {"a": {"namespace": "envns"}})
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{kc}")
    cfg = kconfig.load()
    assert cfg.namespace == "envns" and cfg.source == str(kc)


def test_errors_are_one_line_without_credentials(tmp_path, monkeypatch):
    kc = _write(tmp_path / "kc", {"a": {}})
    with pytest.raises(kconfig.ConfigError, match=r"context 'nope' not found .*known: a"):
        kconfig.load(str(kc), context="nope")
    with pytest.raises(kconfig.ConfigError, match="kubeconfig /no/such/file not found"):
        kconfig.load("/no/such/file")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(kconfig.ConfigError) as info:
        kconfig.load()
    assert "no kubeconfig found (looked in ~/.kube/config)" in str(info.value)
    assert "ktui sim" in str(info.value)
    broken = tmp_path / "broken"
    broken.write_text(f"users: [{{name: u, user: {{token: {TOKEN}}}}}]\ncurrent-context: x\n")
    with pytest.raises(kconfig.ConfigError) as info:
        kconfig.load(str(broken))
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)
