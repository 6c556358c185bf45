"""A one-purpose Static that repaints only when what it shows changes."""

from __future__ import annotations

from rich.text import Text
from textual.visual import visualize
from textual.widgets import Static


class Line(Static):
    """``Static.update`` refreshes the layout even when nothing changed, and a layout refresh
    rewrites every scrollbar on the screen: kilobytes a second on an idle screen from the
    title and summary lines alone (NOTES.md M17). ``show`` skips an identical text and lays out
    only when the height may change: a new line count, or for an auto-height Line that
    wraps, a new wrapped line count at its current width."""

    _shown: Text | str | None = None

    def show(self, content: Text | str) -> None:
        if isinstance(content, Text) and isinstance(self._shown, Text):
            same = content == self._shown and content.style == self._shown.style
        else:
            same = content == self._shown
        if same:
            return
        shown, self._shown = self._shown, content
        if shown is None:
            self.update(content)
            return
        styles = self.styles
        if not styles.is_auto_height or styles.text_wrap == "nowrap":
            # A fixed height never changes and a no-wrap Line's height is its line count, so
            # these keep the measure-free test: the title and summaries take this path on
            # every tick, and a layout pass would rewrite every scrollbar on the screen.
            self.update(content, layout=_lines(content) != _lines(shown))
            return
        # A wrapping auto-height Line (the problems box) can gain wrapped lines without a
        # "\n". Measure the old and new text as Widget.get_content_height does (the visual's
        # height at the content width), both at the width it has now, so a resize since the
        # last show cannot leave a stale count to compare against.
        width = self.size.width
        if not width:
            # Never laid out, or hidden: nothing to measure at; let the layout decide.
            self.update(content)
            return
        # (Textual passes its styles as the rules mapping too; the stub asks for a TypedDict.)
        before = self.visual.get_height(styles, width)  # type: ignore[arg-type]  # layout's cache
        after = visualize(self, content, markup=self._render_markup).get_height(styles, width)  # type: ignore[arg-type]
        self.update(content, layout=after != before)


def _lines(content: Text | str) -> int:
    return (content.plain if isinstance(content, Text) else content).count("\n")
