"""XML exports: Disqus (<post>) and WordPress WXR (<wp:comment>), streamed with SAX.

defusedxml's SAX parser refuses entity declarations and external references (billion
laughs, XXE). SAX rather than iterparse because its locator gives each element's source
lines; only the record being read is held in memory, as a small ElementTree element
whose tags and attributes carry local names only (`dsq:id` is `id`): namespaces decide
what is captured, not how it is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler, feature_namespaces
from xml.sax.xmlreader import AttributesNSImpl, Locator

import defusedxml.sax
from defusedxml import DefusedXmlException

from moderate.seeds.comments import Comment
from moderate.seeds.readers.context import FileContext, as_id
from moderate.seeds.readers.htmltext import html_to_text
from moderate.seeds.readers.source import declared_encoding

CHUNK_CHARS = 1 << 14
WP_NAMESPACE = "http://wordpress.org/export/"
Action = Literal["capture", "mark"] | None
Want = Callable[[int, str | None, str], Action]


@dataclass(frozen=True)
class Record:
    """One captured element and the 1-based source lines it spans."""

    element: ET.Element
    first: int
    last: int

    @property
    def name(self) -> str:
        """The element's local name (`comment` for `wp:comment`)."""
        return self.element.tag


class _Collector(ContentHandler):
    """Builds the elements `want` asks for (by depth and name) and queues them when closed."""

    def __init__(self, want: Want) -> None:
        super().__init__()
        self.want = want
        self.depth = 0
        self.builder: ET.TreeBuilder | None = None
        self.captured_at = 0
        self.first = 0
        self.records: list[Record] = []
        self.locator: Locator | None = None

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def _line(self) -> int:
        line = self.locator.getLineNumber() if self.locator is not None else None
        return line or 0

    def startElementNS(
        self, name: tuple[str | None, str], qname: str | None, attrs: AttributesNSImpl
    ) -> None:
        if self.builder is None:
            action = self.want(self.depth, name[0], name[1])
            if action == "mark":
                self.records.append(Record(ET.Element(name[1]), self._line(), self._line()))
            elif action == "capture":
                self.builder = ET.TreeBuilder()
                self.captured_at = self.depth
                self.first = self._line()
        if self.builder is not None:
            self.builder.start(name[1], {key[1]: value for key, value in attrs.items()})
        self.depth += 1

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        self.depth -= 1
        if self.builder is None:
            return
        self.builder.end(name[1])
        if self.depth == self.captured_at:
            self.records.append(Record(self.builder.close(), self.first, self._line()))
            self.builder = None

    def characters(self, content: str) -> None:
        if self.builder is not None:
            self.builder.data(content)


def read_disqus(ctx: FileContext) -> Iterator[Comment]:
    """Comments from a Disqus XML export: <post> messages, deleted and spam posts skipped."""
    threads: dict[str, str] = {}
    position = -1
    for record in _records(ctx, _disqus_want):
        element = record.element
        if record.name == "thread":
            key = attribute(element, "id") or ""
            threads[key] = _text(element, "title") or _text(element, "link") or key
            continue
        position += 1
        message = element.find("message")
        if message is None:
            ctx.reject(record.first, "<post> without <message>", _raw(element))
            continue
        if _flag(element, "isDeleted") or _flag(element, "isSpam"):
            ctx.skip(record.first, "deleted or spam post", _raw(element) if ctx.rejects else None)
            continue
        thread_key = attribute(element.find("thread"), "id")
        comment = ctx.comment(
            position,
            html_to_text(inner_markup(message)),
            (record.first, record.last),
            thread=threads.get(thread_key or "", thread_key),
            author=_text(element, "author/name") or _text(element, "author/username"),
            parent=attribute(element.find("parent"), "id"),
            source_id=attribute(element, "id") or _text(element, "id"),
            created=_text(element, "createdAt"),
        )
        if comment is not None:
            yield comment


def read_wxr(ctx: FileContext) -> Iterator[Comment]:
    """Comments from a WordPress WXR export: approved <wp:comment>s of each item."""
    title: str | None = None
    link: str | None = None
    position = -1
    for record in _records(ctx, _wxr_want):
        element = record.element
        if record.name == "item":
            title = link = None
            continue
        if record.name in ("title", "link"):
            value = (element.text or "").strip() or None
            title, link = (value, link) if record.name == "title" else (title, value)
            continue
        position += 1
        content = element.find("comment_content")
        if content is None:
            ctx.reject(record.first, "<wp:comment> without <wp:comment_content>", _raw(element))
            continue
        # Only "1" is approved; "0" is pending, others are spam or trash. Pingbacks are not readers.
        approved = _text(element, "comment_approved") == "1"
        if not approved or _text(element, "comment_type") in ("pingback", "trackback"):
            reason = "not an approved reader comment"
            ctx.skip(record.first, reason, _raw(element) if ctx.rejects else None)
            continue
        parent = _text(element, "comment_parent")
        comment = ctx.comment(
            position,
            html_to_text(inner_markup(content), keep_newlines=True),
            (record.first, record.last),
            thread=title or link,
            author=_text(element, "comment_author"),
            parent=parent if parent not in (None, "0") else None,
            source_id=_text(element, "comment_id"),
            created=_text(element, "comment_date_gmt") or _text(element, "comment_date"),
        )
        if comment is not None:
            yield comment


def _records(ctx: FileContext, want: Want) -> Iterator[Record]:
    collector = _Collector(want)
    parser = defusedxml.sax.make_parser()
    parser.setFeature(feature_namespaces, True)
    parser.setContentHandler(collector)
    # feed() never hands out a locator; the parser itself is one.
    collector.setDocumentLocator(parser)
    encoding = declared_encoding(ctx.path, ctx.head)
    # Text (not bytes) goes to expat, which then reads it as UTF-8 whatever the
    # declaration says; decoding here is what replaces and counts bad bytes.
    with ctx.open_text(encoding=encoding) as stream:
        try:
            while chunk := stream.read(CHUNK_CHARS):
                parser.feed(chunk)
                yield from _drain(collector)
            parser.close()
        except SAXParseException as error:
            # expat cannot resume after a well-formedness error: report it, stop this file.
            yield from _drain(collector)
            ctx.reject(error.getLineNumber(), f"malformed XML: {error.getMessage()}")
            return
        except DefusedXmlException as error:
            raise ctx.error(f"refused XML: {error}", parser.getLineNumber()) from error
    yield from _drain(collector)


def _drain(collector: _Collector) -> Iterator[Record]:
    records, collector.records = collector.records, []
    yield from records


def _disqus_want(depth: int, namespace: str | None, name: str) -> Action:
    return "capture" if depth == 1 and name in ("thread", "post") else None


def _wxr_want(depth: int, namespace: str | None, name: str) -> Action:
    # rss > channel > item > (title, link, wp:comment)
    if depth == 2 and name == "item" and not namespace:
        return "mark"
    if depth == 3 and name in ("title", "link") and not namespace:
        return "capture"
    wordpress = (namespace or "").startswith(WP_NAMESPACE)
    return "capture" if depth == 3 and name == "comment" and wordpress else None


def attribute(element: ET.Element | None, name: str) -> str | None:
    """An attribute by local name, stripped; None when absent or empty."""
    return as_id(element.get(name)) if element is not None else None


def inner_markup(element: ET.Element) -> str:
    """The element's content as markup: text plus any child elements serialised."""
    children = "".join(ET.tostring(child, encoding="unicode") for child in element)
    return (element.text or "") + children


def _text(element: ET.Element, path: str) -> str | None:
    value = element.findtext(path)
    return value.strip() or None if value is not None else None


def _flag(element: ET.Element, name: str) -> bool:
    return (_text(element, name) or "").lower() == "true"


def _raw(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")
