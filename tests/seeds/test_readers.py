"""The comment-dump readers: every format, gzip, bad input, streaming, stable ids."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderate.seeds.comments import Comment, comment_id
from moderate.seeds.errors import InputError
from moderate.seeds.readers import ReadStats, detect_format, read_comments, read_threads
from moderate.seeds.split import split_thread

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8cfc0f01f0005000201a5f6d1b40000000049454e44ae426082"
)


@pytest.fixture
def dumps(fixtures: Path) -> Path:
    """tests/fixtures/seeds/dumps."""
    return fixtures / "seeds" / "dumps"


def read(path: Path, **options: Any) -> list[Comment]:
    """All comments of one file."""
    return list(read_comments([path], **options))


def gzipped(path: Path, into: Path) -> Path:
    """A gzip copy of `path` inside `into`, named like the original plus .gz."""
    target = into / (path.name + ".gz")
    with path.open("rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def test_reddit_jsonl_keeps_thread_parent_author_and_skips_deleted(dumps: Path) -> None:
    stats = ReadStats()
    comments = read(dumps / "reddit.jsonl", stats=stats)
    assert [c.source_id for c in comments] == ["c1a", "c1b", "c2a"]
    reply = comments[1]
    assert reply.text == "Replying to you, with a second paragraph.\n\nLike this one. 🙂"
    assert reply.parent == "t1_c1a"
    assert reply.thread == "t3_post1"
    assert reply.author == "skeptic"
    assert reply.meta["created"] == 1700000060
    assert reply.lines == (2, 2)
    # a blank line in the file does not count as a record, so c2a is the 6th record
    assert comments[2].position == 5
    assert comments[2].lines == (7, 7)
    assert comments[2].id == comment_id("reddit.jsonl", 5, comments[2].text)
    assert (stats.comments, stats.skipped, stats.rejected) == (3, 3, 0)


def test_ndjson_reads_message_field_and_reply_links(dumps: Path) -> None:
    comments = read(dumps / "messages.ndjson")
    assert [c.text for c in comments] == [
        "Ping from the chat export.",
        "Second message\nacross two lines.",
        "Third, after an empty one.",
    ]
    assert comments[1].author == "ben"
    assert comments[1].parent == "m1"
    assert comments[1].lines == (3, 3)
    assert comments[0].thread == "messages.ndjson"


def test_csv_multiline_quoted_field_reports_its_physical_lines(dumps: Path) -> None:
    stats = ReadStats()
    comments = read(dumps / "comments.csv", stats=stats)
    assert [c.source_id for c in comments] == ["1", "2", "4"]
    multi = comments[1]
    assert multi.text.splitlines() == [
        "A comment that spans",
        "three physical lines, with a comma,",
        'and "doubled" quotes.',
    ]
    assert multi.lines == (3, 5)
    assert comments[2].lines == (7, 7)
    assert multi.author == "bob"
    assert stats.skipped == 1


def test_tsv_is_tab_separated(dumps: Path) -> None:
    comments = read(dumps / "comments.tsv")
    assert [c.text for c in comments] == [
        "Tab separated comment one.",
        "Second, with a comma; and a semicolon.",
    ]
    assert comments[0].author == "zoe"


def test_csv_without_known_column_names_the_columns_it_found(dumps: Path) -> None:
    with pytest.raises(InputError) as caught:
        read(dumps / "semicolon.csv")
    message = str(caught.value)
    assert "semicolon.csv" in message
    assert "'comment'" in message and "'isHate'" in message


def test_text_column_option_picks_the_column(dumps: Path) -> None:
    comments = read(dumps / "semicolon.csv", text_field="comment")
    assert [c.text for c in comments] == [
        "Semicolon separated, with a comma inside",
        "Another one",
    ]


def test_text_field_option_for_jsonl(dumps: Path) -> None:
    with pytest.raises(InputError, match=r"custom_field.jsonl:1: .*'comment'"):
        read(dumps / "custom_field.jsonl")
    comments = read(dumps / "custom_field.jsonl", text_field="comment")
    assert [c.text for c in comments] == [
        "The text sits in a field nobody guesses.",
        "Second of them.",
    ]


def test_named_text_field_missing_is_an_error(dumps: Path) -> None:
    with pytest.raises(InputError, match="no field 'review'; found: 'id', 'author'"):
        read(dumps / "comments.csv", text_field="review")


def test_parquet_rows_become_comments(tmp_path: Path) -> None:
    rows = 5000  # more than one batch
    frame = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(rows)],
            "content": [f"parquet comment {i}" if i % 1000 else " " for i in range(rows)],
            "author": ["pat"] * rows,
            "created_at": pd.date_range("2024-01-01", periods=rows, freq="min"),
        }
    )
    path = tmp_path / "dump.parquet"
    frame.to_parquet(path, row_group_size=1500)
    stats = ReadStats()
    comments = read(path, stats=stats)
    assert len(comments) == rows - 5
    assert stats.skipped == 5
    last = comments[-1]
    assert last.text == f"parquet comment {rows - 1}"
    assert last.lines == (rows, rows)
    assert last.position == rows - 1
    assert last.source_id == f"p{rows - 1}"
    assert last.meta["created"].startswith("2024-01-04T")
    assert [c.id for c in read(gzipped(path, tmp_path))] == [c.id for c in comments]


def test_parquet_without_text_column_lists_columns(tmp_path: Path) -> None:
    path = tmp_path / "notext.parquet"
    pd.DataFrame({"id": [1], "score": [0.5]}).to_parquet(path)
    with pytest.raises(InputError, match=r"notext.parquet: no text field .*'id', 'score'"):
        read(path)


def test_disqus_strips_html_skips_deleted_and_spam_keeps_parent(dumps: Path) -> None:
    stats = ReadStats()
    comments = read(dumps / "disqus.xml", stats=stats)
    assert [c.source_id for c in comments] == ["301", "304"]
    first, reply = comments
    assert first.text == (
        "Finally! It took them long enough & then some.\n\nSecond paragraph,\nwith a line break."
    )
    assert first.thread == "Bridge reopens after two years"
    assert first.author == "Jo Reader"
    assert first.lines == (22, 30)
    assert reply.text == "I disagree, see the report."
    assert reply.parent == "301"
    assert reply.position == 3
    assert stats.skipped == 2


def test_wordpress_keeps_approved_comments_only(dumps: Path) -> None:
    stats = ReadStats()
    comments = read(dumps / "wordpress.xml", stats=stats)
    assert [c.source_id for c in comments] == ["51", "54", "61"]
    greta, rita, ursula = comments
    assert (
        greta.text
        == "Same thing happened to mine.\nDrains were blocked all spring.\n\nNext paragraph."
    )
    assert greta.parent is None
    assert greta.thread == "Why the allotment flooded"
    assert greta.meta["created"] == "2024-04-02 09:00:00"
    assert rita.parent == "51"
    assert rita.text == "@Greta same here & worse."
    assert ursula.thread == "https://blog.example.net/?p=11"
    # unapproved, spam and a pingback
    assert stats.skipped == 3


@pytest.mark.parametrize(
    "name",
    [
        "reddit.jsonl",
        "messages.ndjson",
        "comments.csv",
        "comments.tsv",
        "disqus.xml",
        "wordpress.xml",
    ],
)
def test_gzip_is_read_transparently_with_the_same_ids(
    dumps: Path, tmp_path: Path, name: str
) -> None:
    plain = read(dumps / name)
    packed = read(gzipped(dumps / name, tmp_path))
    assert plain and [c.to_dict() for c in packed] == [c.to_dict() for c in plain]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("reddit.jsonl", "jsonl"),
        ("messages.ndjson", "jsonl"),
        ("comments.csv", "csv"),
        ("comments.tsv", "tsv"),
        ("disqus.xml", "disqus"),
        ("wordpress.xml", "wxr"),
    ],
)
def test_detect_format(dumps: Path, tmp_path: Path, name: str, fmt: str) -> None:
    assert detect_format(dumps / name) == fmt
    assert detect_format(gzipped(dumps / name, tmp_path)) == fmt


def test_detect_format_sniffs_unknown_extensions_and_refuses_the_rest(tmp_path: Path) -> None:
    (tmp_path / "dump.log").write_text('{"text": "json without the extension"}\n')
    assert detect_format(tmp_path / "dump.log") == "jsonl"
    (tmp_path / "notes.md").write_text("# just some notes\n")
    with pytest.raises(InputError, match=r"notes.md: unknown comment source .*'\.md'"):
        detect_format(tmp_path / "notes.md")
    (tmp_path / "array.json").write_text('[{"text": "a"},\n {"text": "b"}]\n')
    with pytest.raises(InputError, match="a JSON array, not JSON Lines"):
        read(tmp_path / "array.json")
    (tmp_path / "feed.xml").write_text("<?xml version='1.0'?>\n<feed><entry/></feed>\n")
    with pytest.raises(InputError, match=r"feed.xml: XML with <feed>: neither a Disqus"):
        read(tmp_path / "feed.xml")


def test_format_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text('{"text": "jsonl in a .txt file"}\n')
    assert [c.text for c in read(path, fmt="jsonl")] == ["jsonl in a .txt file"]
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        read(path, fmt="yaml")


def test_malformed_json_line_names_file_and_line(dumps: Path) -> None:
    comments: list[Comment] = []
    with pytest.raises(InputError) as caught:
        comments.extend(read_comments([dumps / "malformed.jsonl"]))
    assert caught.value.line == 2
    assert str(caught.value).startswith(f"{dumps / 'malformed.jsonl'}:2: malformed JSON")
    assert [c.source_id for c in comments] == ["ok1"]


def test_skip_writes_rejects_and_reads_on(dumps: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    stats = ReadStats()
    comments = read(dumps / "malformed.jsonl", on_error="skip", rejects=rejects, stats=stats)
    assert [c.source_id for c in comments] == ["ok1", "ok2"]
    # the rejected records still hold their positions, so later ids do not shift
    assert comments[1].position == 4
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["file"]) for r in bad] == [
        (line, str(dumps / "malformed.jsonl")) for line in (2, 3, 4)
    ]
    assert bad[0]["raw"] == '{"id": "bad1", "text": "missing the closing brace"'
    assert "expected a JSON object" in bad[1]["reason"]
    assert "'title'" in bad[2]["reason"]
    assert stats.rejected == 3


def test_malformed_csv_rows(dumps: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"malformed.csv:3: expected 2 fields, found 3"):
        read(dumps / "malformed.csv")
    rejects = tmp_path / "rejects.jsonl"
    comments = read(dumps / "malformed.csv", on_error="skip", rejects=rejects)
    assert [c.text for c in comments] == ["Good row before.", "Good row after."]
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in bad] == [3, 4]
    assert bad[1]["raw"] == '3,"A quote"in the wrong place'


def test_malformed_xml(dumps: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"malformed.xml:8: <post> without <message>"):
        read(dumps / "malformed.xml")
    rejects = tmp_path / "rejects.jsonl"
    comments = read(dumps / "malformed.xml", on_error="skip", rejects=rejects)
    # expat cannot go past a broken tag: what came before it is kept, the rest is lost
    assert [c.text for c in comments] == [
        "Read before the break.",
        "Read after the post without a message.",
    ]
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in bad] == [
        (8, "<post> without <message>"),
        (16, "malformed XML: mismatched tag"),
    ]


def test_xml_entity_declarations_are_refused(dumps: Path) -> None:
    with pytest.raises(InputError, match=r"entities.xml:3: refused XML: EntitiesForbidden"):
        read(dumps / "entities.xml", on_error="skip")


def test_undecodable_bytes_are_replaced_and_counted(dumps: Path) -> None:
    stats = ReadStats()
    comments = read(dumps / "broken_encoding.jsonl", stats=stats)
    assert [c.text for c in comments] == [
        "caf\ufffd au lait",
        "clean line",
        "two bad \ufffd\ufffd bytes",
    ]
    assert stats.replaced_bytes == 3
    assert stats.per_file[str(dumps / "broken_encoding.jsonl")].replaced_bytes == 3


def test_undecodable_bytes_in_csv_and_xml(tmp_path: Path) -> None:
    csv_path = tmp_path / "latin1.csv"
    csv_path.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    stats = ReadStats()
    assert [c.text for c in read(csv_path, stats=stats)] == ["caf\ufffd"]
    xml_path = tmp_path / "latin1.xml"
    xml_path.write_bytes(
        b'<disqus xmlns="http://disqus.com"><post><message>na\xefve</message></post></disqus>'
    )
    assert [c.text for c in read(xml_path, stats=stats)] == ["na\ufffdve"]
    assert stats.replaced_bytes == 2


def test_xml_in_a_declared_legacy_encoding(tmp_path: Path) -> None:
    path = tmp_path / "legacy.xml"
    path.write_bytes(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<disqus xmlns="http://disqus.com"><post><message>naïve café</message></post></disqus>'
        "".encode("latin-1")
    )
    stats = ReadStats()
    assert [c.text for c in read(path, stats=stats)] == ["naïve café"]
    assert stats.replaced_bytes == 0


def test_empty_files_give_no_comments(dumps: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "empty.xml").write_bytes(b"")
    gzipped(dumps / "empty.jsonl", tmp_path)
    paths = [
        dumps / "empty.jsonl",
        dumps / "empty.csv",
        tmp_path / "empty.parquet",
        tmp_path / "empty.xml",
        tmp_path / "empty.jsonl.gz",
    ]
    stats = ReadStats()
    assert list(read_comments(paths, stats=stats)) == []
    assert (stats.files, stats.comments) == (5, 0)
    assert {counts.format for counts in stats.per_file.values()} == {"empty"}


def test_header_only_csv_gives_no_comments(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,text\n")
    assert read(path) == []


@pytest.mark.parametrize("name", ["picture.png", "picture.csv", "archive.zip", "archive.jsonl"])
def test_binary_files_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.startswith("picture"):
        path.write_bytes(PNG)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("comments.jsonl", '{"text": "zipped"}\n' * 50)
    with pytest.raises(InputError, match="binary file, not a supported comment source"):
        read(path)


def test_binary_bytes_inside_a_gzip_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pic.csv.gz"
    path.write_bytes(gzip.compress(PNG))
    with pytest.raises(InputError, match=r"pic.csv.gz: binary file"):
        read(path)


def test_truncated_gzip_is_an_input_error(dumps: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"text": f"line {i} " * 20}) + "\n" for i in range(3000)))
    packed = gzipped(big, tmp_path).read_bytes()
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match=r"cut.jsonl.gz:[0-9]+: cannot read"):
        read(truncated)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothing.jsonl: no such file"):
        read(tmp_path / "nothing.jsonl")
    with pytest.raises(InputError, match="is a directory"):
        read(tmp_path)


def test_several_files_in_one_call_are_counted_per_file(dumps: Path) -> None:
    stats = ReadStats()
    paths = [dumps / "reddit.jsonl", dumps / "comments.tsv", dumps / "disqus.xml"]
    comments = list(read_comments(paths, stats=stats))
    assert len(comments) == stats.comments == 7
    assert stats.files == 3
    assert {key: counts.comments for key, counts in stats.per_file.items()} == {
        str(dumps / "reddit.jsonl"): 3,
        str(dumps / "comments.tsv"): 2,
        str(dumps / "disqus.xml"): 2,
    }
    assert len({c.id for c in comments}) == 7


def test_ids_are_stable_across_runs_and_copies(dumps: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "reddit.jsonl"
    copy.parent.mkdir()
    shutil.copy(dumps / "reddit.jsonl", copy)
    first = [c.id for c in read(dumps / "reddit.jsonl")]
    assert first == [c.id for c in read(dumps / "reddit.jsonl")]
    assert first == [c.id for c in read(copy)]


def test_thread_pages_go_through_the_splitter(tmp_path: Path) -> None:
    page = Path(__file__).resolve().parents[2] / "seeds" / "threads" / "003_8de303d2c4567213.txt"
    expected = split_thread(page.read_text(encoding="utf-8"), page.name).comments
    assert read(page) == expected
    assert read(gzipped(page, tmp_path)) == expected
    [thread] = read_threads([page])
    assert thread.comments == expected
    with pytest.raises(InputError, match="a jsonl dump, not a plain-text thread page"):
        list(read_threads([page.parents[2] / "tests/fixtures/seeds/dumps/reddit.jsonl"]))


def test_oversized_thread_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt.gz"
    with gzip.open(path, "wb", compresslevel=1) as sink:
        line = b"a line of a very long page\n" * 4096
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            sink.write(line)
    with pytest.raises(InputError, match=r"huge.txt.gz: thread page larger than 50 MB"):
        list(read_threads([path]))


def test_bad_options_are_refused(dumps: Path) -> None:
    with pytest.raises(ValueError, match="on_error"):
        read(dumps / "reddit.jsonl", on_error="ignore")


@pytest.mark.slow
def test_large_dump_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.jsonl"
    record = {"id": "x", "author": "someone", "body": "a fairly ordinary comment " * 3}
    with path.open("w") as sink:
        for i in range(200_000):
            record["id"] = f"c{i}"
            sink.write(json.dumps(record) + "\n")
    size = path.stat().st_size
    count = 0
    tracemalloc.start()
    try:
        for _ in read_comments([path]):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xml"])
def test_large_csv_and_xml_stream_in_bounded_memory(tmp_path: Path, fmt: str) -> None:
    text = "a comment with a comma, and\na second line"
    path = tmp_path / f"large.{fmt}"
    with path.open("w", newline="") as sink:
        if fmt == "csv":
            writer = csv.writer(sink)
            writer.writerow(["id", "text"])
            writer.writerows([i, text] for i in range(20_000))
        else:
            sink.write('<disqus xmlns="http://disqus.com">\n')
            for _ in range(20_000):
                sink.write(f"<post><message><![CDATA[<p>{text}</p>]]></message></post>\n")
            sink.write("</disqus>\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_comments([path]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < size / 5, f"peak {peak} bytes for a {size}-byte file"


def test_html_is_reduced_to_visible_text_with_its_breaks(tmp_path: Path) -> None:
    path = tmp_path / "html.xml"
    message = (
        "<p>One   spaced\n out</p><script>alert(1)</script><ul><li>first</li><li>second</li></ul>"
        "<blockquote>quoted &lt;b&gt; &#8220;text&#8221;</blockquote>tail<br/>end"
    )
    path.write_text(
        '<disqus xmlns="http://disqus.com"><post><message><![CDATA['
        + message
        + "]]></message></post></disqus>"
    )
    [comment] = read(path)
    assert (
        comment.text
        == "One spaced out\n\nfirst\n\nsecond\n\nquoted <b> \u201ctext\u201d\n\ntail\nend"
    )


TEXTS = st.text(min_size=1).filter(lambda t: t.strip() not in ("", "[deleted]", "[removed]"))
# A CSV file is plain text: control characters other than line breaks and tabs make it binary.
PRINTABLE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from("\t\r\n"),
    min_size=1,
).filter(lambda t: t.strip() not in ("", "[deleted]", "[removed]"))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXTS, min_size=1, max_size=5))
def test_any_text_round_trips_through_jsonl(tmp_path: Path, texts: list[str]) -> None:
    path = tmp_path / "round.jsonl.gz"
    lines = "".join(json.dumps({"text": text}) + "\n" for text in texts)
    path.write_bytes(gzip.compress(lines.encode()))
    comments = read(path)
    assert [c.text for c in comments] == texts
    assert [c.lines for c in comments] == [(i, i) for i in range(1, len(texts) + 1)]


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(PRINTABLE, min_size=1, max_size=5))
def test_any_text_round_trips_through_csv(tmp_path: Path, texts: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "comment_text"])
    writer.writerows([i, text] for i, text in enumerate(texts))
    path = tmp_path / "round.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    assert [c.text for c in read(path)] == texts


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "text_field", "rows"),
    [
        ("toxicity/jigsaw2018_subset.csv", None, 10_000),  # multi-line quoted comment_text
        ("toxicity/youtoxic_comments.csv", None, 1_000),  # UTF-8 BOM, `Text` column
        ("toxicity/olid_train.tsv", "tweet", 13_240),
        ("toxicity/ethos_binary.csv", "comment", 998),  # ;-separated
        ("conspiracy/psycomark_reddit_text.jsonl", None, 4_316),
        ("conspiracy/covid_vaccine_comments.csv", "comments", 609),  # mixed encodings
        ("conspiracy/pan2024_train_shortest100.tsv", None, 100),
    ],
)
def test_real_corpora_read_every_row(
    corpora: Path, name: str, text_field: str | None, rows: int
) -> None:
    stats = ReadStats()
    count = sum(1 for _ in read_comments([corpora / name], text_field=text_field, stats=stats))
    assert (count, stats.skipped, stats.rejected) == (rows, 0, 0)
    assert (stats.replaced_bytes > 0) == name.startswith("conspiracy/covid")


def test_bom_and_column_case_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "youtube.csv"
    path.write_bytes("\ufeffCommentId,Text,IsToxic\r\nyt1,Nice video,False\r\n".encode())
    [comment] = read(path)
    assert (comment.text, comment.source_id) == ("Nice video", "yt1")


def test_odd_json_values(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"text": ["not", "a", "string"]}\n'
        '{"text": "half an emoji \\ud83d here"}\n'
        '{"text": 42, "id": 7, "author": null}\n'
        '{"text": "a tweet", "user": {"id": 9, "screen_name": "tw"}, "in_reply_to": 3}\n'
    )
    with pytest.raises(InputError, match=r"odd.jsonl:1: field 'text' holds a list, not text"):
        read(path)
    comments = read(path, on_error="skip")
    assert [c.text for c in comments] == ["half an emoji \ufffd here", "42", "a tweet"]
    assert (comments[1].source_id, comments[1].author) == ("7", None)
    assert (comments[2].author, comments[2].parent) == ("tw", "3")


def test_rejects_file_is_rewritten_each_run(dumps: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_text('{"stale": true}\n')
    read(dumps / "reddit.jsonl", on_error="skip", rejects=rejects)
    # only this run's records: the three it skipped, each with its line and reason
    records = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in records] == [
        (3, "deleted comment placeholder"),
        (5, "no text"),
        (6, "deleted comment placeholder"),
    ]


def test_parquet_binary_text_is_decoded_with_replacement(tmp_path: Path) -> None:
    path = tmp_path / "bytes.parquet"
    pd.DataFrame({"body": [b"caf\xc3\xa9", b"caf\xe9"]}).to_parquet(path)
    stats = ReadStats()
    assert [c.text for c in read(path, stats=stats)] == ["café", "caf\ufffd"]
    assert stats.replaced_bytes == 1
