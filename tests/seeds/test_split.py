"""The thread splitter: seed pages, the team's own layouts, and properties for any text."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderate.seeds.comments import Thread, comment_id
from moderate.seeds.split import split_thread

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds" / "threads"
LAYOUTS = ROOT / "tests" / "fixtures" / "seeds" / "threads"


def split_file(path: Path) -> Thread:
    return split_thread(path.read_text(encoding="utf-8"), path.name)


def comment_line_numbers(thread: Thread) -> list[int]:
    numbers: list[int] = []
    for comment in thread.comments:
        first, last = comment.lines
        numbers.extend(n for n in range(first, last + 1) if n in thread.roles)
    return numbers


@pytest.mark.shared_data
def test_seed_threads_are_the_shared_ones_byte_for_byte(corpora: Path) -> None:
    shared = corpora.parent / "seeds"
    names = sorted(p.name for p in shared.glob("*.txt"))
    assert names == sorted(p.name for p in SEEDS.glob("*.txt"))
    for name in names:
        assert (SEEDS / name).read_bytes() == (shared / name).read_bytes(), name


def test_seed_threads_are_unedited() -> None:
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in SEEDS.glob("*")}
    assert digests == {
        "000_07c19086aea3be48.txt": "bfafbe8329304dd8",
        "001_5b7347f8b3917bee.txt": "ccfbc4a0c7a64b85",
        "003_8de303d2c4567213.txt": "b0645cc058ab644b",
    }


@pytest.mark.parametrize("name", ["000_07c19086aea3be48.txt", "001_5b7347f8b3917bee.txt"])
def test_pages_with_only_article_and_boilerplate_have_no_comments(name: str) -> None:
    thread = split_file(SEEDS / name)
    assert thread.comments == []
    assert thread.title.startswith(("The US Secretly Let", "Thousands of ISIS members"))
    assert "cookie" not in thread.article.lower()
    assert "subscriber" not in thread.article.lower()


def test_seed_003_article_is_lines_1_to_12_and_every_comment_line_lands_once() -> None:
    thread = split_file(SEEDS / "003_8de303d2c4567213.txt")
    assert thread.article_lines == (1, 12)
    assert thread.article.startswith("Submitted by Leith Fadel")
    assert thread.article.endswith("Deir Ezzor Governorate.")
    assert 40 <= len(thread.comments) <= 54
    numbers = comment_line_numbers(thread)
    assert sorted(numbers) == list(range(13, 67))
    assert len(numbers) == len(set(numbers))


def test_seed_003_merges_only_on_evidence() -> None:
    thread = split_file(SEEDS / "003_8de303d2c4567213.txt")
    by_first = {c.lines[0]: c for c in thread.comments}
    assert by_first[17].lines == (17, 18), "a line ending in ':' continues into the next"
    assert by_first[45].lines == (45, 46), "a bare URL belongs to the comment before it"
    assert by_first[27].lines == (27, 29), "a pasted headline and its link are one comment"
    assert by_first[35].lines == (35, 35), "short questions stay separate comments"
    assert all(not c.text.startswith("http") for c in thread.comments)


def test_ids_are_stable_and_derived_from_source_position_and_text() -> None:
    first = split_file(SEEDS / "003_8de303d2c4567213.txt")
    second = split_file(SEEDS / "003_8de303d2c4567213.txt")
    assert [c.id for c in first.comments] == [c.id for c in second.comments]
    assert len({c.id for c in first.comments}) == len(first.comments)
    comment = first.comments[3]
    assert comment.id == comment_id(comment.thread, comment.position, comment.text)
    assert comment.id == comment_id("003_8de303d2c4567213.txt", 3, comment.text)
    assert [c.position for c in first.comments] == list(range(len(first.comments)))


def test_comment_headers_with_names_and_times_are_metadata_not_text() -> None:
    thread = split_file(LAYOUTS / "disqus_style.txt")
    assert [c.author for c in thread.comments] == [
        "Dave K.",
        "Priya Raman",
        "Dave K.",
        "truthseeker77",
    ]
    assert thread.comments[1].text == (
        "Forty parking spaces is a lot for the shops on the east end.\n"
        "They will lose customers and nobody on the council seems to care."
    )
    for comment in thread.comments:
        for marker in ("Reply", "Report", "likes", "hours ago", "Sort by", "Load more"):
            assert marker not in comment.text
    assert thread.title.startswith("Council approves new bike lanes")
    assert "Share this article" not in thread.article


def test_wordpress_says_headers_and_a_link_after_a_colon() -> None:
    thread = split_file(LAYOUTS / "wordpress_style.txt")
    assert [c.author for c in thread.comments] == ["Helen Marsh", "Tom", "Gardener Gail"]
    assert thread.comments[2].text.endswith("https://example.org/garden-leaflet.pdf")
    assert all("Reply" not in c.text and "logged in" not in c.text for c in thread.comments)
    assert "Responses" not in thread.article


@pytest.mark.parametrize("name", ["no_comments.txt", "short_paragraphs.txt"])
def test_pages_without_comments_give_none(name: str) -> None:
    thread = split_file(LAYOUTS / name)
    assert thread.comments == []
    assert thread.article_lines is not None


def test_short_paragraph_article_followed_by_plain_comments() -> None:
    thread = split_file(LAYOUTS / "short_paragraphs_with_comments.txt")
    assert thread.article_lines == (3, 9)
    assert [c.lines for c in thread.comments] == [(11, 11), (12, 12), (13, 13), (14, 16), (17, 17)]


def test_empty_and_blank_pages() -> None:
    for text in ("", "\n\n   \n"):
        thread = split_thread(text, "empty.txt")
        assert thread.comments == [] and thread.article == "" and thread.roles == {}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=120),
            st.sampled_from(
                [
                    "COMMENTS",
                    "Reply · Report · 4 likes",
                    "Jane Doe · 2 hours ago",
                    "Bob says:",
                    "June 4, 2023 at 9:12 am",
                    "https://example.org/x",
                    "As someone said:",
                    "More from Example",
                    "Why would they hide it? WAKE UP!",
                    "Officials said the plan was approved on Monday.",
                ]
            ),
        ),
        max_size=40,
    )
)
def test_any_text_splits_without_losing_or_duplicating_a_line(parts: list[str]) -> None:
    text = "\n".join(parts)
    thread = split_thread(text, "generated.txt")
    source = text.split("\n")
    non_blank = {n for n, line in enumerate(source, 1) if line.strip()}
    assert set(thread.roles) == non_blank
    numbers = comment_line_numbers(thread)
    assert len(numbers) == len(set(numbers))
    assert set(numbers) == {n for n, role in thread.roles.items() if role == "comment"}
    for comment in thread.comments:
        first, last = comment.lines
        expected = [source[n - 1].strip() for n in range(first, last + 1) if n in thread.roles]
        assert comment.text == "\n".join(expected)
    article = [source[n - 1].strip() for n, role in thread.roles.items() if role == "article"]
    assert thread.article == "\n".join(article)
