"""Split a raw thread page (article text followed by reader comments) into its parts.

Every non-blank line of the page gets exactly one role: the title, the article, page
boilerplate, comment metadata (author/time headers, "Reply", "42 likes") or comment text.
Comments are found on evidence, in this order:

1. comment headers with an author and a time ("John Smith · 3 hours ago") delimit
   comments, possibly of several lines;
2. a comments section header ("COMMENTS", "12 Comments", "Leave a reply") starts the
   comment region; lines after it are comments unless they are boilerplate;
3. with neither, the comment region is the suffix of the page whose lines read most like
   reader comments (first and second person, questions, shouting, no reporting verbs),
   and only if that suffix is clearly comment-like: an article alone gives no comments.

Without headers, one line is one comment, merged only on evidence: a line ending in ":"
continues into the next, a line that is only a URL belongs to the comment before it, and
a pasted headline (with its standfirst) followed by its link is one comment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from moderate.seeds.comments import Comment, Thread, comment_id

Role = Literal["title", "article", "boilerplate", "meta", "comment"]

_I = re.IGNORECASE

BOILERPLATE = [
    re.compile(p, _I)
    for p in (
        r"\bcookies?\b.*\b(use|using|settings|consent|accept|agree|policy)\b",
        r"\b(use|using|settings|consent|accept|agree|policy)\b.*\bcookies?\b",
        r"^(read|continue reading|read the (whole|full) (story|article))\b.*$",
        r"^.{0,80}\bread more\b\W*(here)?\W*[^.!?]{0,60}$",
        r"^related\s*:",
        r"^(featured |header |top )?(image|photo|picture)s?\s+(courtesy|credit|source|by)\b",
        r"^about .{1,60}\bview all posts\b",
        r"\b(subscribe|subscription|subscriber)\b.*\b(access|continue|reading|support|login|"
        r"log in|sign in|now|today|free)\b",
        r"^already a (subscriber|member)\b",
        r"\b(daily|monthly|weekly) (free )?(article|story) limit\b",
        r"^(get|enjoy|unlock) (full|unlimited|ad-free|digital)\b.*\baccess\b",
        r"^(try|start) (\d+ days?|your|a) (free|trial)\b",
        r"\bfree trial\b",
        r"^(join|sign up|register|log ?in|sign in)\b.{0,60}\b(for|to|now|today|free|access)\b",
        r"^(log ?in|sign in|sign up|register)( (or|to) .{0,40})?\W*$",
        r"\byou must (be logged in|log ?in|sign in|become a subscriber|register)\b",
        r"^(share|tweet|email|print)( (this|on|article|story)\b.*)?$",
        r"^(share|tweet|email|print)( [·|•/] ?(share|tweet|email|print|facebook|twitter))+$",
        r"^advertisements?$|^sponsored( content)?$|^promoted( stories)?$",
        r"^(all rights reserved|copyright|©)",
        r"^(tags|filed under|posted in|categories)\s*:",
        r"^(sort|order) by\b",
        r"^(load|show|view) (more|all|older|newer)( \d+)? (comments|replies|posts)\b",
        r"\bnewsletter\b.*\b(sign up|subscribe|inbox)\b",
        r"^(privacy policy|terms of (use|service)|contact us)\b",
        r"^(click|tap) here\b",
        r"^comments (are|have been) (closed|disabled|turned off)\b",
        r"^(be the first to comment|no comments( yet)?|there are no comments)\W*$",
    )
]

PROMO_BLOCK = re.compile(
    r"^(more from\b.{0,40}|recommended( for you)?|you (may|might) also like|"
    r"related (articles|stories|posts)|trending( now)?|most (popular|read)|"
    r"around the web|from our partners|sponsored stories)\W*$",
    _I,
)

COMMENTS_HEADER = re.compile(
    r"^(\d+\s+)?(reader\s+)?(comments?|responses?|replies|discussion|reactions)"
    r"(\s*\(\d+\))?\s*:?$"
    r"|^\d+ (comments?|responses?|replies|thoughts) (to|on) .{1,200}$"
    r"|^(leave|post|add|write) (a|your) (comment|reply)\W*$"
    r"|^join the (discussion|conversation)\W*$"
    r"|^what do you think\?$",
    _I,
)

_TIME = (
    r"(\d+\s*(s|sec|second|m|min|minute|h|hr|hour|d|day|w|wk|week|mo|month|y|yr|year)s?"
    r"\s+ago|just now|yesterday|today|an? (minute|hour|day|week|month|year) ago|"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?,? "
    r"\d{4}([, ]+(at )?\d{1,2}:\d{2}\s*([ap]\.?m\.?)?)?|"
    r"\d{1,2}/\d{1,2}/\d{2,4}([, ]+\d{1,2}:\d{2}\s*([ap]\.?m\.?)?)?|"
    r"\d{4}-\d{2}-\d{2}([ t]\d{2}:\d{2}(:\d{2})?)?)"
)
AUTHOR_HEADER = re.compile(
    rf"^(?P<author>[^\s·•|].{{0,58}}?)\s*(·|•|\||—|–|-|,)\s*(?P<time>{_TIME})"
    r"(\s*(·|•|\|)\s*(edited|reply|report))*\s*$"
    rf"|^(?P<author2>[^\s].{{0,58}}?)\s+(says|said|wrote|commented)"
    rf"(\s+(on\s+)?(?P<time2>{_TIME}))\s*:?$",
    _I,
)
TIME_ONLY = re.compile(rf"^(posted |edited )?{_TIME}$", _I)
# WordPress prints "Jane Doe says:" with the date on the next line.
SAYS_HEADER = re.compile(r"^(?P<author>[\w.@'-]+( [\w.@'-]+){0,2}) (says|said|wrote):$")
_ACTION = (
    r"(reply|replies|report|flag|share|like|likes|unlike|upvote|downvote|permalink|edit|"
    r"edited|delete|hide|collapse|expand|show replies|hide replies|"
    r"view \d+ (more )?repl(y|ies)|\d+ repl(y|ies)|"
    r"[+-]?\d+\s*(likes?|upvotes?|downvotes?|points?|votes?|dislikes?)|"
    r"\d+|▲|▼|↑|↓|👍|👎)"
)
ACTION_LINE = re.compile(rf"^{_ACTION}(\s*[·•|/]?\s*{_ACTION})*$", _I)

URL_ONLY = re.compile(r"^(<)?(https?://|www\.)\S+(>)?$", _I)
BYLINE = re.compile(r"^(submitted|written|posted|published|reported)?\s*by\s+[A-Z]", _I)
CAPTION = re.compile(r"\b(image|photo|picture|video) (source|credit|courtesy)\b", _I)
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
REPORTING = re.compile(
    r"\b(said|says|told|according to|reported(ly)?|confirmed|announced|alleged(ly)?|"
    r"explained|added|stated|spokes(man|woman|person)|officials?|statement|investigation|"
    r"quoted|published|obtained|revealed)\b",
    _I,
)
PERSONAL = re.compile(r"\b(i|i'm|i've|i'd|me|my|you|your|you're|u|ur|we're|us)\b", _I)
SHOUT = re.compile(r"\b[A-Z]{4,}\b")
ELLIPSIS = re.compile(r"\.{3,}|…")
TERMINAL = re.compile(r"[.!?…\"'”’)]$")


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based line number in the page
    index: int  # position among the page's non-blank lines
    text: str


def split_thread(text: str, name: str) -> Thread:
    """Split a thread page into title, article, boilerplate and reader comments."""
    numbered = [(n, raw.strip()) for n, raw in enumerate(text.split("\n"), 1) if raw.strip()]
    lines = [_Line(n, index, stripped) for index, (n, stripped) in enumerate(numbered)]
    roles: dict[int, Role] = {}
    authors: dict[int, str] = {}
    _mark_markers(lines, roles, authors)
    title = _find_title(lines, roles)
    region = _comment_region(lines, roles, authors)
    for line in lines[:region]:
        roles.setdefault(line.number, "article")
    for line in lines[region:]:
        roles.setdefault(line.number, "comment")
    _mark_repeats(lines, roles)
    comments = _group_comments(name, lines, roles, authors)
    article_lines = [line for line in lines if roles[line.number] == "article"]
    return Thread(
        name=name,
        title=title.text if title else "",
        article="\n".join(line.text for line in article_lines),
        article_lines=(article_lines[0].number, article_lines[-1].number)
        if article_lines
        else None,
        comments=comments,
        roles=dict(sorted(roles.items())),
    )


def _mark_markers(lines: Sequence[_Line], roles: dict[int, Role], authors: dict[int, str]) -> None:
    """Give boilerplate and comment-metadata lines their roles; they are never comment text."""
    in_promo = False
    for index, line in enumerate(lines):
        header = AUTHOR_HEADER.match(line.text) or _says_header(lines, index)
        if COMMENTS_HEADER.match(line.text):
            roles[line.number] = "meta"
            in_promo = False
        elif header:
            roles[line.number] = "meta"
            authors[line.number] = (header.groupdict().get("author") or header["author2"]).strip()
            in_promo = False
        elif PROMO_BLOCK.match(line.text):
            roles[line.number] = "boilerplate"
            in_promo = True
        elif in_promo or any(p.search(line.text) for p in BOILERPLATE):
            roles[line.number] = "boilerplate"
        elif ACTION_LINE.match(line.text) or TIME_ONLY.match(line.text):
            roles[line.number] = "meta"


def _says_header(lines: Sequence[_Line], index: int) -> re.Match[str] | None:
    """'Jane Doe says:' counts as a comment header only when a date line follows it."""
    match = SAYS_HEADER.match(lines[index].text)
    if match and index + 1 < len(lines) and TIME_ONLY.match(lines[index + 1].text):
        return match
    return None


def _find_title(lines: Sequence[_Line], roles: dict[int, Role]) -> _Line | None:
    """The headline among the page's first lines; short labels above it are boilerplate."""
    head = [line for line in lines[:6] if line.number not in roles]
    for index, line in enumerate(head):
        if _is_paragraph(line.text):
            return None
        if _is_headline(line.text) and not BYLINE.match(line.text):
            for label in head[:index]:
                roles[label.number] = "boilerplate"
            roles[line.number] = "title"
            _mark_tag_lines(head[index + 1 :], roles)
            return line
    return None


def _mark_tag_lines(after_title: Sequence[_Line], roles: dict[int, Role]) -> None:
    """Keyword lists between the headline and the first paragraph are page furniture."""
    for line in after_title:
        if _is_paragraph(line.text):
            return
        words = line.text.split()
        if len(words) <= 12 and re.fullmatch(r"[\w\s,#-]+", line.text) and line.text.islower():
            roles[line.number] = "boilerplate"


def _comment_region(lines: Sequence[_Line], roles: dict[int, Role], authors: dict[int, str]) -> int:
    """Index of the first line of the comment region (len(lines) when there are none)."""
    headers = [i for i, line in enumerate(lines) if roles.get(line.number) == "meta"]
    structural = [
        i for i in headers if COMMENTS_HEADER.match(lines[i].text) or lines[i].number in authors
    ]
    if structural:
        return structural[0]
    free = [i for i, line in enumerate(lines) if line.number not in roles]
    scores = [_comment_score(lines[i].text) for i in free]
    best, best_sum, running = len(lines), 0.0, 0.0
    for position in range(len(free) - 1, -1, -1):
        running += scores[position]
        if running > best_sum:
            best, best_sum = free[position], running
    positive = sum(1 for i, s in zip(free, scores, strict=True) if i >= best and s > 0)
    if best_sum < 1.5 or positive < 2:
        return len(lines)
    return best


def _comment_score(text: str) -> float:
    """How much a line reads like a reader comment (>0) rather than article prose (<0)."""
    outside = _QUOTED.sub(" ", text)
    score = 0.0
    score += 1.0 if PERSONAL.search(outside) else 0.0
    score += 1.0 if "?" in outside else 0.0
    score += 1.0 if "!" in outside else 0.0
    score += 0.5 if ELLIPSIS.search(text) else 0.0
    score += 1.0 if len(SHOUT.findall(text)) >= 1 and not text.isupper() else 0.0
    score += 1.0 if text.isupper() and len(text) > 12 else 0.0
    score += 1.0 if text[:1].islower() else 0.0
    score += 0.5 if not TERMINAL.search(text) else 0.0
    score += 0.5 if URL_ONLY.match(text) or "http" in text else 0.0
    score -= 1.5 * min(2, len(REPORTING.findall(outside)))
    score -= 1.5 if CAPTION.search(text) or BYLINE.match(text) else 0.0
    score -= 1.0 if len(text) > 200 else 0.0
    score -= 1.0 if len(text) > 400 else 0.0
    if score == 0.0 and TERMINAL.search(text) and text[:1].isupper():
        score = -0.5
    return score


def _mark_repeats(lines: Sequence[_Line], roles: dict[int, Role]) -> None:
    """A page that prints its article twice: the second copy is boilerplate, not comments."""
    seen: set[str] = set()
    for line in lines:
        role = roles[line.number]
        if role == "article":
            if line.text in seen and len(line.text) > 40:
                roles[line.number] = "boilerplate"
            seen.add(line.text)
        elif role == "comment" and line.text in seen and len(line.text) > 40:
            roles[line.number] = "boilerplate"


def _group_comments(
    name: str, lines: Sequence[_Line], roles: dict[int, Role], authors: dict[int, str]
) -> list[Comment]:
    """Group comment lines: under author headers, or one line each merged on evidence."""
    groups: list[tuple[list[_Line], str | None]] = []
    current: list[_Line] | None = None
    author: str | None = None
    structured = bool(authors)
    previous: _Line | None = None
    for line in lines:
        role = roles[line.number]
        if role != "comment":
            if line.number in authors:
                author = authors[line.number]
            current = None if role in ("meta", "boilerplate") or not structured else current
            previous = None
            continue
        if current is not None and (structured or _continues(previous, line)):
            current.append(line)
        elif URL_ONLY.match(line.text) and groups and groups[-1][0][-1] is previous:
            _absorb_headline(groups)
            groups[-1][0].append(line)
            current = groups[-1][0]
        else:
            current = [line]
            groups.append((current, author if structured else None))
        previous = line
        if not structured and not line.text.endswith(":"):
            current = None
    return [
        _make_comment(name, position, group, group_author)
        for position, (group, group_author) in enumerate(groups)
    ]


def _continues(previous: _Line | None, line: _Line) -> bool:
    """A line that ends in ':' introduces the next one."""
    return previous is not None and previous.text.endswith(":")


def _absorb_headline(groups: list[tuple[list[_Line], str | None]]) -> None:
    """Before a link: merge the pasted headline (and its standfirst) into one comment."""
    for _ in range(2):
        if len(groups) < 2:
            return
        last, before = groups[-1][0], groups[-2][0]
        adjacent = last[0].index == before[-1].index + 1  # no non-blank line between
        if not (adjacent and len(before) == 1 and len(last) == 1):
            return
        if not (_is_headline(before[0].text) and _is_headline_or_standfirst(last[0].text)):
            return
        before.extend(last)
        groups.pop()


def _is_headline(text: str) -> bool:
    """A headline: a few words, capitalised, without closing punctuation."""
    words = text.split()
    return (
        4 <= len(words) <= 25
        and len(text) <= 200
        and text[:1].isupper()
        and not re.search(r"[.:;,…]$", text)
        and not URL_ONLY.match(text)
    )


def _is_headline_or_standfirst(text: str) -> bool:
    """A headline or the unpunctuated summary line printed under it."""
    return _is_headline(text) or (
        len(text) <= 300 and text[:1].isupper() and not re.search(r"[.!?:;,…]$", text)
    )


def _is_paragraph(text: str) -> bool:
    """Running prose: long and sentence-shaped."""
    return len(text) > 150 and len(re.findall(r"[.!?](\s|$)", text)) >= 1


def _make_comment(name: str, position: int, group: list[_Line], author: str | None) -> Comment:
    text = "\n".join(line.text for line in group)
    return Comment(
        id=comment_id(name, position, text),
        thread=name,
        position=position,
        text=text,
        lines=(group[0].number, group[-1].number),
        author=author,
    )
