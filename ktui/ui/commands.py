"""Command palette (`:`) entries to switch context and namespace."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ktui.sweep.names import dns1123_label_problem


class ClusterCommands(Provider):
    """`context NAME`, `namespace NAME` (typed freely) and `all namespaces`."""

    def _targets(self) -> list[tuple[str, str, tuple[str | None, str | None, bool]]]:
        app = self.app
        out: list[tuple[str, str, tuple[str | None, str | None, bool]]] = []
        for ctx in getattr(app, "contexts", []):
            out.append((f"context {ctx}", f"switch to kubeconfig context {ctx}", (ctx, None, False)))
        out.append(("all namespaces", "show trials of every namespace", (None, None, True)))
        seen = {t.namespace for t in app.state.trials.records().values()}  # type: ignore[attr-defined]
        for ns in sorted(seen):
            out.append((f"namespace {ns}", f"only namespace {ns}", (None, ns, False)))
        return out

    async def discover(self) -> Hits:
        if getattr(self.app, "switch", None) is None:
            return
        for label, help_text, target in self._targets():
            yield DiscoveryHit(label, partial(self.app.switch_to, *target), help=help_text)  # type: ignore[attr-defined]

    async def search(self, query: str) -> Hits:
        if getattr(self.app, "switch", None) is None:
            return
        matcher = self.matcher(query)
        for label, help_text, target in self._targets():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(self.app.switch_to, *target), help=help_text)  # type: ignore[attr-defined]
        # Any namespace, typed: "namespace team-b" or "ns team-b".
        words = query.split()
        if len(words) == 2 and words[0] in ("namespace", "ns") and not dns1123_label_problem(words[1]):
            yield Hit(1.0, f"namespace {words[1]}", partial(self.app.switch_to, None, words[1], False),  # type: ignore[attr-defined]
                      help=f"switch to namespace {words[1]}")
