"""The records every reader produces: a comment with a stable id, and a thread page."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def comment_id(source: str, position: int, text: str) -> str:
    """Stable id: the same source name, position and text give the same id everywhere."""
    digest = hashlib.sha256(f"{source}\x1f{position}\x1f{text}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True, slots=True)
class Comment:
    """One reader comment, wherever it came from."""

    id: str
    thread: str
    position: int
    text: str
    lines: tuple[int, int]
    author: str | None = None
    parent: str | None = None
    source_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; optional fields are left out when empty."""
        record: dict[str, Any] = {
            "id": self.id,
            "thread": self.thread,
            "position": self.position,
            "text": self.text,
            "lines": list(self.lines),
        }
        for key in ("author", "parent", "source_id"):
            value = getattr(self, key)
            if value is not None:
                record[key] = value
        if self.meta:
            record["meta"] = self.meta
        return record


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread page split into its article and its reader comments."""

    name: str
    title: str
    article: str
    article_lines: tuple[int, int] | None
    comments: list[Comment]
    roles: dict[int, str] = field(default_factory=dict)

    def article_dict(self) -> dict[str, Any]:
        """The article part as a JSON-ready dict."""
        return {
            "thread": self.name,
            "title": self.title,
            "article": self.article,
            "lines": list(self.article_lines) if self.article_lines else None,
            "comments": len(self.comments),
        }
