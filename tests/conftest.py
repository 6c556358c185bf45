"""Every test gets its own XDG cache directory: the results cache (ktui.cluster.resultcache)
never reads or writes the user's, and no test sees another's results."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
