"""`moderate split`: the seeds stage's command, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from moderate.cli import build_app

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "seeds" / "threads").glob("*.txt"))
runner = CliRunner()


def test_split_seeds_gives_the_expected_counts_and_fields(tmp_path: Path) -> None:
    out = tmp_path / "out" / "seeds.jsonl"
    result = runner.invoke(build_app(), ["split", *map(str, SEEDS), "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    threads = {r["thread"] for r in records}
    assert threads == {"003_8de303d2c4567213.txt"}
    assert 40 <= len(records) <= 54
    for record in records:
        assert {"id", "thread", "position", "text", "lines"} <= set(record)
        assert 13 <= record["lines"][0] <= record["lines"][1] <= 66
    assert f"{len(records)} comments from 3 files" in result.stderr
    assert not (tmp_path / "out" / "seeds.jsonl.partial").exists()


def test_split_article_exposes_title_and_article_separately() -> None:
    result = runner.invoke(build_app(), ["split", "--article", *map(str, SEEDS)])
    assert result.exit_code == 0, result.output
    pages = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["comments"] for p in pages] == [0, 0, pages[2]["comments"]]
    assert pages[0]["title"].startswith("The US Secretly Let Thousands")
    assert pages[2]["lines"] == [1, 12]
    assert "cookies" not in pages[0]["article"]


def test_split_reads_dumps_and_reports_a_bad_line(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"body": "first"}\n{"body": broken\n{"body": "third"}\n', encoding="utf-8")
    result = runner.invoke(build_app(), ["split", str(dump)])
    assert result.exit_code == 1
    assert f"{dump}:2" in result.stderr
    rejects = tmp_path / "rejects.jsonl"
    result = runner.invoke(build_app(), ["split", str(dump), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == ["first", "third"]
    assert json.loads(rejects.read_text(encoding="utf-8"))["line"] == 2


def test_a_failed_split_leaves_an_earlier_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("earlier result\n", encoding="utf-8")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = runner.invoke(build_app(), ["split", str(binary), "-o", str(out)])
    assert result.exit_code == 1
    assert "binary file" in result.stderr
    assert out.read_text(encoding="utf-8") == "earlier result\n"


def test_empty_file_gives_zero_comments_and_exit_0(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = runner.invoke(build_app(), ["split", str(empty)])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_console_script_runs_as_installed() -> None:
    moderate = Path(sys.executable).with_name("moderate")
    done = subprocess.run(
        [str(moderate), "split", str(SEEDS[2])], capture_output=True, text=True, check=True
    )
    assert len(done.stdout.splitlines()) >= 40
