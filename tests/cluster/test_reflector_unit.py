"""Reflector pieces that need no server: backoff and the continue-token peek."""

from __future__ import annotations

import json

from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.decode import POD_CODEC
from ktui.cluster.kube.paging import peek_continue

from .helpers import fixture


def test_backoff_grows_with_jitter_within_bounds():
    lo = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    hi = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)
    assert [lo.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [hi.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    hi.reset()
    assert hi.next() == 1.0


def test_peek_continue_matches_the_decoded_token():
    for name in ("list-pods-limit2-page1.json", "list-pods-limit2-page2.json"):
        raw = fixture(name)
        _, meta = POD_CODEC.decode_list(raw)
        assert peek_continue(raw) == meta.continue_
        compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
        assert peek_continue(compact) == meta.continue_


def test_peek_continue_absent_or_after_items():
    assert peek_continue(fixture("obj-pods-ok-job.json")) is None
    assert peek_continue(b'{"metadata":{"continue":""},"items":[]}') is None
    # Metadata after the items: no peeking into item bytes (a label could contain the text).
    tricky = b'{"items":[{"metadata":{"labels":{"x":"\\"continue\\":\\"no\\""}}}],"metadata":{}}'
    assert peek_continue(tricky) is None


def _reflector(kind: str = "jobs"):
    from ktui.cluster.kube.reflector import Reflector
    from ktui.cluster.kube.resources import RESOURCES
    from ktui.cluster.store import Store

    store = Store()
    return Reflector(None, store, RESOURCES[kind]), store  # type: ignore[arg-type]


def test_apply_lines_follows_the_stream_and_its_bookmarks():
    refl, store = _reflector()
    lines = fixture("watch-jobs-ref-75s-bookmarks.jsonl").splitlines()
    seen_keys = set()
    rv = "0"
    for line in lines:  # one line per batch, checking the store as it goes
        rv = refl.apply_lines([line], rv)
        seen_keys |= store.keys("jobs")
    assert seen_keys == {("ref", "w-job"), ("ref", "del-job"), ("ref", "del-fg-job")}
    assert store.keys("jobs") == set()  # all three were deleted by the end
    assert rv == "122095" and refl._rv == "122095"
    assert refl.stats.events == len(lines)


def test_apply_lines_batch_keeps_order_of_adds_and_deletes():
    refl, store = _reflector()
    lines = fixture("watch-jobs-ref-75s-bookmarks.jsonl").splitlines()
    first_delete = next(i for i, ln in enumerate(lines) if b'"DELETED"' in ln)
    refl.apply_lines(lines[: first_delete + 2], "0")  # w-job deleted, then del-job added
    assert store.keys("jobs") == {("ref", "del-job")}


def test_apply_lines_410_error_event():
    import pytest

    from ktui.cluster.kube.reflector import Expired

    refl, store = _reflector()
    adds = fixture("watch-jobs-ref-75s-bookmarks.jsonl").splitlines()[:1]
    with pytest.raises(Expired):
        refl.apply_lines(adds + fixture("watch-jobs-rv1-410.jsonl").splitlines(), "5")
    assert store.keys("jobs") == {("ref", "w-job")}  # what came before the error is kept


def test_throttling_waits_at_least_retry_after():
    from ktui.cluster.kube.transport import ApiError

    refl, store = _reflector()
    refl.backoff = Backoff(base=0.01, cap=0.02)
    assert refl._on_api_error(ApiError(429, "TooManyRequests", "slow down", retry_after=7)) >= 7
    assert refl._on_api_error(ApiError(500, "InternalError", "oops")) <= 0.02
    assert store.problems() == ()  # transient: nothing to tell the user
    delay = refl._on_api_error(ApiError(403, "Forbidden", 'User "bob" cannot list resource "jobs"'))
    assert delay == refl.forbidden_retry
    (p,) = store.problems()
    assert (p.code, p.resource, p.message) == ("forbidden", "jobs", "cannot list jobs: Forbidden (user bob)")
