"""Comment HTML to plain text, keeping paragraph and line breaks (stdlib html.parser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "table", "tr", "hr", "section"}
    | {"article", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_HIDDEN = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[ \t\f\v\r\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self, keep_newlines: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_newlines = keep_newlines
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.keep_newlines:
            self.parts.append(data.replace("\r\n", "\n").replace("\r", "\n"))
        else:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(markup: str, keep_newlines: bool = False) -> str:
    """Visible text of an HTML fragment; blocks become paragraphs, <br> a line break.

    keep_newlines: the markup's own newlines are text (WordPress stores comments that
    way); otherwise whitespace is collapsed as a browser would (Disqus messages).
    """
    extractor = _TextExtractor(keep_newlines)
    extractor.feed(markup)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
