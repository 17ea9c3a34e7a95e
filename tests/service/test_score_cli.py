"""`moderate score` as a user runs it: failed runs, pipes, broken input, ids, one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.seeds.readers import read_comments
from moderate.service.run import read_output
from tests.service.test_batch import MODERATE, write_dump

FORMATS = [".csv", ".jsonl", ".parquet"]


def score(model: Path, *args: str | Path) -> Result:
    """`moderate score ARGS --model MODEL`, in process."""
    command = ["score", *map(str, args), "--model", str(model)]
    return CliRunner().invoke(build_app(), command)


def split(*args: str | Path) -> Result:
    """`moderate split ARGS`, in process."""
    return CliRunner().invoke(build_app(), ["split", *map(str, args)])


def run(model: Path, *args: str | Path, data: bytes) -> subprocess.CompletedProcess[str]:
    """The installed `moderate score ARGS --model MODEL` with `data` piped into its stdin."""
    command = [str(MODERATE), "score", *map(str, args), "--model", str(model)]
    done = subprocess.run(command, input=data, capture_output=True, timeout=240)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def one_line_error(result: Result, *fragments: str) -> str:
    """The single `error:` line of a failed command, checked to hold every fragment."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "Aborted" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


# --- 9: a failed run keeps the earlier output --------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_failed_run_leaves_the_earlier_output_untouched(
    suffix: str, dump: Path, model: Path, tmp_path: Path
) -> None:
    output = tmp_path / f"prev{suffix}"
    assert score(model, dump, "-o", output).exit_code == 0
    before = output.read_bytes()
    one_line_error(score(model, tmp_path / "typo.jsonl", "-o", output), "typo.jsonl: no such file")
    assert output.read_bytes() == before
    broken = write_dump(tmp_path / "broken.jsonl", 300, bad_line=250)
    failed = score(model, broken, "-o", output, "--batch-size", "50")
    one_line_error(failed, "broken.jsonl:251")
    assert output.read_bytes() == before


@pytest.mark.parametrize("suffix", FORMATS)
def test_resume_goes_on_from_a_failed_run(suffix: str, model: Path, tmp_path: Path) -> None:
    broken = write_dump(tmp_path / "broken.jsonl", 300, bad_line=250)
    output = tmp_path / f"out{suffix}"
    one_line_error(score(model, broken, "-o", output, "--batch-size", "50"), "broken.jsonl:251")
    assert not output.exists()
    args = ["-o", output, "--batch-size", "50", "--on-error", "skip", "--resume"]
    resumed = score(model, broken, *args)
    assert resumed.exit_code == 0, resumed.output
    assert "already done 0," not in " ".join(resumed.output.split())
    fresh = tmp_path / f"fresh{suffix}"
    assert score(model, broken, "-o", fresh, "--on-error", "skip").exit_code == 0
    pd.testing.assert_frame_equal(read_output(output), read_output(fresh))


# --- 10: stdin and pipes -----------------------------------------------------------------


def test_piped_input_is_streamed_once(dump: Path, model: Path, tmp_path: Path) -> None:
    expected = read_output_of(model, dump, tmp_path / "file.jsonl")
    piped = run(model, "-", "-o", tmp_path / "dash.jsonl", data=dump.read_bytes())
    assert piped.returncode == 0, piped.stderr
    zipped = gzip.compress(dump.read_bytes())
    stdin = run(model, "/dev/stdin", "-o", tmp_path / "stdin.jsonl", data=zipped)
    assert stdin.returncode == 0, stdin.stderr
    for name in ("dash.jsonl", "stdin.jsonl"):
        rows = read_output(tmp_path / name)
        assert list(rows["source_id"]) == list(expected["source_id"])
        assert list(rows["toxic"]) == list(expected["toxic"])
    table = pd.DataFrame({"text": [c.text for c in read_comments([dump])]}).to_csv().encode()
    csv = run(model, "-", "--format", "csv", "-o", tmp_path / "csv.jsonl", data=table)
    assert csv.returncode == 0, csv.stderr
    assert list(read_output(tmp_path / "csv.jsonl")["toxic"]) == list(expected["toxic"])


def test_a_named_fifo_is_read_once(dump: Path, model: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    output = tmp_path / "out.jsonl"
    command = [str(MODERATE), "score", str(fifo), "-o", str(output), "--model", str(model)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def feed() -> None:
        with fifo.open("wb") as sink:  # blocks until the command opens the FIFO
            sink.write(dump.read_bytes())

    threading.Thread(target=feed, daemon=True).start()
    try:
        _, stderr = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert list(read_output(output)["source_id"]) == [f"c{i}" for i in range(230)]


def test_split_reads_a_piped_thread_page_once() -> None:
    page = sorted((Path(__file__).parents[2] / "seeds" / "threads").glob("*.txt"))[-1]
    moderate = [str(MODERATE), "split", "-", "--format", "thread"]
    for extra in ([], ["--article"]):
        done = subprocess.run([*moderate, *extra], input=page.read_bytes(), capture_output=True)
        assert done.returncode == 0, done.stderr
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert records and all(r["thread"] == "-" for r in records)
    assert records[0]["article"] and records[0]["comments"] > 0


def read_output_of(model: Path, dump: Path, output: Path) -> pd.DataFrame:
    """Score a dump file through the CLI and read the rows back."""
    result = score(model, dump, "-o", output)
    assert result.exit_code == 0, result.output
    return read_output(output)


# --- 11: truncated gzip --------------------------------------------------------------------


@pytest.fixture
def truncated(tmp_path: Path) -> tuple[Path, Path]:
    """A 3,000-comment dump and a gzip of it cut in the middle."""
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps({"text": f"line {i} " * 20}) + "\n" for i in range(3000)))
    cut = tmp_path / "cut.jsonl.gz"
    packed = gzip.compress(full.read_bytes())
    cut.write_bytes(packed[: len(packed) // 2])
    return full, cut


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_truncated_gzip_names_the_line_and_skip_keeps_the_rows_before(
    suffix: str, truncated: tuple[Path, Path], model: Path, tmp_path: Path
) -> None:
    full, cut = truncated
    output = tmp_path / f"out{suffix}"
    line = one_line_error(score(model, cut, "-o", output), "cut.jsonl.gz:", "cannot read")
    broken_at = int(line.split("cut.jsonl.gz:")[1].split(":")[0])
    rejects = tmp_path / "rejects.jsonl"
    kept = score(model, cut, "-o", output, "--on-error", "skip", "--rejects", rejects)
    assert kept.exit_code == 0, kept.output
    assert "rejected 1" in " ".join(kept.output.split())
    rows = read_output(output)
    ids = [c.id for c in read_comments([full.rename(tmp_path / "cut.jsonl")])]
    assert 0 < len(rows) < 3000 and list(rows["id"]) == ids[: len(rows)]
    assert broken_at == len(rows) + 1  # the first line it could not read
    [reject] = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert reject["file"] == str(cut) and "cannot read" in reject["reason"]
    assert reject["line"] == broken_at


def test_split_skip_keeps_the_comments_before_a_truncated_gzip(
    truncated: tuple[Path, Path],
) -> None:
    _, cut = truncated
    one_line_error(split(cut), "cut.jsonl.gz:", "cannot read")
    kept = split(cut, "--on-error", "skip")
    assert kept.exit_code == 0, kept.output
    assert 0 < len(kept.stdout.splitlines()) < 3000


# --- 12: the dump's own ids, and the records without text ----------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_output_keeps_the_dumps_own_ids_and_counts_records_without_text(
    suffix: str, model: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "ids.jsonl"
    records = [
        {"id": "t3_a", "body": "you idiot"},
        {"id": "t3_b", "body": None},
        {"id": "t3_c", "body": ""},
        {"id": 42, "body": "a nice day"},
        {"body": "no id at all"},
        {"id": "t3_d", "body": "[deleted]"},
    ]
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    output = tmp_path / f"out{suffix}"
    rejects = tmp_path / "rejects.jsonl"
    result = score(model, dump, "-o", output, "--rejects", rejects)
    assert result.exit_code == 0, result.output
    rows = read_output(output)
    assert list(rows.columns[:2]) == ["id", "source_id"]
    assert list(rows["source_id"].fillna("-")) == ["t3_a", "42", "-"]
    assert "skipped 3" in " ".join(result.output.split())
    dropped = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in dropped] == [
        (2, "no text"),
        (3, "no text"),
        (6, "deleted comment placeholder"),
    ]


def test_split_lists_records_without_text_in_rejects(tmp_path: Path) -> None:
    dump = tmp_path / "blank.jsonl"
    dump.write_text('{"id": "a", "text": "kept"}\n{"id": "b", "text": "  "}\n')
    rejects = tmp_path / "rejects.jsonl"
    result = split(dump, "--rejects", rejects)
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.stderr
    [record] = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert (record["line"], record["reason"]) == (2, "no text")


# --- 13: one line, not a traceback ---------------------------------------------------------


@pytest.mark.parametrize("size", ["-5", "0"])
def test_a_batch_size_below_one(size: str, dump: Path, model: Path, tmp_path: Path) -> None:
    output = tmp_path / "o.csv"
    one_line_error(score(model, dump, "-o", output, "--batch-size", size), "batch size", size)
    assert not output.exists()


def test_a_url_whose_filesystem_is_not_installed(model: Path, tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/dump.jsonl"
    one_line_error(score(model, url, "-o", tmp_path / "o.csv"), url)


def test_an_unknown_url_scheme(model: Path, tmp_path: Path) -> None:
    url = "nosuchscheme://bucket/dump.jsonl"
    one_line_error(score(model, url, "-o", tmp_path / "o.csv"), url, "nosuchscheme://")


def test_memory_urls(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = "memory://nowhere/dump.jsonl"  # not the one test_batch writes
    one_line_error(score(model, url, "-o", "o.csv"), url, "no such file", "memory://")
    dump = write_dump(tmp_path / "dump.jsonl", 10)
    one_line_error(score(model, dump, "-o", "memory://out.csv"), "memory:", "local path")
    assert not list(tmp_path.glob("memory*"))


@pytest.mark.parametrize("under", ["o.csv", "sub/o.parquet"])
def test_an_output_under_a_regular_file(
    under: str, dump: Path, model: Path, tmp_path: Path
) -> None:
    output = dump / under
    one_line_error(score(model, dump, "-o", output), str(dump), "not a directory")
    one_line_error(split(dump, "-o", dump / "o.jsonl"), str(dump), "not a directory")


@pytest.mark.parametrize("line", ['{"body": "unterminated\n', '{"body": "tab\there"}\n'])
def test_json_errors_read_well(line: str, model: Path, tmp_path: Path) -> None:
    dump = tmp_path / "bad.jsonl"
    dump.write_text(line)
    for result in (score(model, dump, "-o", tmp_path / "o.csv"), split(dump)):
        error = one_line_error(result, "bad.jsonl:1: malformed JSON", "column")
        assert " at at " not in error
