"""Batch scoring: every output format, summaries, bad input, fsspec URLs and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from moderate.seeds.readers import read_comments
from moderate.service.batch import BatchError, score_files
from moderate.service.run import read_output
from moderate.service.writers import OutputError
from tests.service.helpers import TRAIN_CSV

MODERATE = Path(sys.executable).parent / "moderate"
TEXTS = list(pd.read_csv(TRAIN_CSV)["text"])


def write_dump(path: Path, count: int, bad_line: int | None = None) -> Path:
    """A Reddit-style JSONL dump of `count` comments (optionally one malformed line)."""
    with path.open("w", encoding="utf-8") as file:
        for i in range(count):
            if i == bad_line:
                file.write('{"body": "torn\n')
                continue
            text = f'{TEXTS[i % len(TEXTS)]} (#{i})\nsecond line, with a "quote", here'
            file.write(json.dumps({"id": f"c{i}", "body": text, "author": f"u{i % 7}"}) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_holds_every_comment_in_order(
    suffix: str, dump: Path, model: Path, tmp_path: Path
) -> None:
    output = tmp_path / f"out{suffix}"
    summary = score_files([dump], output, model=model, batch_size=50, include_text=True)
    rows = read_output(output)
    comments = list(read_comments([dump]))
    assert list(rows["id"]) == [c.id for c in comments]
    assert list(rows["text"]) == [c.text for c in comments]
    assert list(rows.columns) == [
        "id", "source_id", "thread", "position", "text", "toxic", "conspiracy",
        "toxic_decision", "conspiracy_decision", "model_version",
    ]  # fmt: skip
    assert rows["toxic"].between(0, 1).all() and rows["conspiracy"].between(0, 1).all()
    assert summary.read == summary.scored == 230 and summary.rejected == 0
    flagged = {k: int((rows[f"{k}_decision"] != "allow").sum()) for k in ("toxic", "conspiracy")}
    assert summary.flagged == flagged
    assert not output.with_name(output.name + ".parts").exists()


def test_formats_agree_and_text_is_optional(dump: Path, model: Path, tmp_path: Path) -> None:
    frames = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        score_files([dump], tmp_path / f"o{suffix}", model=model)
        frames.append(read_output(tmp_path / f"o{suffix}"))
    assert "text" not in frames[0].columns
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0], check_dtype=False)


def test_same_scores_as_the_model(dump: Path, model: Path, tmp_path: Path) -> None:
    from moderate.model.artifacts import load

    score_files([dump], tmp_path / "o.jsonl", model=model, batch_size=7)
    rows = read_output(tmp_path / "o.jsonl")
    expected = load(model).score([c.text for c in read_comments([dump])])
    assert list(rows["toxic"]) == [s.scores["toxic"] for s in expected]
    assert list(rows["conspiracy_decision"]) == [s.decisions["conspiracy"] for s in expected]


def test_bad_input_raises_or_is_rejected(model: Path, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "bad.jsonl", 20, bad_line=5)
    with pytest.raises(Exception, match=r"bad\.jsonl:6"):
        score_files([dump], tmp_path / "o.csv", model=model)
    rejects = tmp_path / "rejects.jsonl"
    summary = score_files([dump], tmp_path / "o.csv", model=model, on_error="skip", rejects=rejects)
    assert (summary.read, summary.scored, summary.rejected) == (19, 19, 1)
    assert json.loads(rejects.read_text())["line"] == 6


def test_unknown_output_extension(dump: Path, model: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="unknown output extension"):
        score_files([dump], tmp_path / "o.xlsx", model=model)


def test_fsspec_url_gives_the_same_rows(dump: Path, model: Path, tmp_path: Path) -> None:
    with fsspec.open("memory://bucket/dump.jsonl", "wb") as file:
        file.write(dump.read_bytes())
    score_files(["memory://bucket/dump.jsonl"], tmp_path / "url.csv", model=model)
    score_files([dump], tmp_path / "local.csv", model=model)
    assert (tmp_path / "url.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


# --- resume ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_cuts_a_torn_row_and_finishes(
    suffix: str, dump: Path, model: Path, tmp_path: Path
) -> None:
    full = tmp_path / f"full{suffix}"
    score_files([dump], full, model=model, include_text=True)
    partial = tmp_path / f"partial{suffix}"
    data = full.read_bytes()
    cut = data.index(b"second line", len(data) // 2) + 3  # inside a quoted multi-line text
    partial.write_bytes(data[:cut])
    summary = score_files([dump], partial, model=model, include_text=True, resume=True)
    assert partial.read_bytes() == full.read_bytes()
    assert summary.resumed + summary.scored == 230 and summary.resumed > 0
    assert summary.flagged == score_files([dump], full, model=model).flagged


def test_resume_refuses_an_output_of_other_inputs(model: Path, tmp_path: Path) -> None:
    output = tmp_path / "o.csv"
    score_files([write_dump(tmp_path / "a.jsonl", 30)], output, model=model)
    other = tmp_path / "b.jsonl"
    other.write_text("".join(json.dumps({"body": f"other {i}"}) + "\n" for i in range(40)))
    with pytest.raises(BatchError, match="do not match"):
        score_files([other], output, model=model, resume=True)


def test_resume_refuses_different_columns(dump: Path, model: Path, tmp_path: Path) -> None:
    output = tmp_path / "o.csv"
    score_files([dump], output, model=model)
    with pytest.raises(OutputError, match="columns"):
        score_files([dump], output, model=model, include_text=True, resume=True)


def progressed(path: Path) -> bool:
    """Whether a run has written a few batches of rows (and is worth killing now)."""
    if path.suffix == ".parquet":
        parts = path.with_name(path.name + ".parts")
        return parts.exists() and len(list(parts.glob("*.parquet"))) >= 3
    partial = path.with_name(path.name + ".partial")
    return partial.exists() and partial.stat().st_size > 150_000


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_resume_after_kill(suffix: str, model: Path, tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "big.jsonl", 20_000)
    output = tmp_path / f"killed{suffix}"
    command = [str(MODERATE), "score", str(dump), "-o", str(output), "--model", str(model)]
    command += ["--batch-size", "500", "--include-text"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not progressed(output) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is not None:
        pytest.fail("the run finished before it could be killed; make the dump bigger")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
    rows = read_output(output)
    comments = list(read_comments([dump]))
    assert list(rows["id"]) == [c.id for c in comments]  # no duplicates, no losses
    assert rows["id"].is_unique


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_resume_of_a_finished_output_changes_nothing(
    suffix: str, dump: Path, model: Path, tmp_path: Path
) -> None:
    output = tmp_path / f"done{suffix}"
    score_files([dump], output, model=model, batch_size=100)
    before = read_output(output)
    summary = score_files([dump], output, model=model, batch_size=100, resume=True)
    assert (summary.resumed, summary.scored) == (230, 0)
    pd.testing.assert_frame_equal(read_output(output), before)


def test_dask_without_scheduler_fails_before_writing(
    dump: Path, model: Path, tmp_path: Path
) -> None:
    output = tmp_path / "kept.csv"
    output.write_text("earlier work\n")
    with pytest.raises(BatchError, match="--scheduler"):
        score_files([dump], output, model=model, engine="dask")
    assert output.read_text() == "earlier work\n"


@pytest.mark.parametrize(
    "threads",
    [["a.csv", "b.csv"], ["with, comma", "b"], ['quote " in it', "b"], ["line\nbreak", ""]],
)
@pytest.mark.parametrize("source_ids", [[None, None], ["t1_a", None], ["7", "t1_b"]])
def test_csv_rows_are_what_the_csv_module_writes(
    threads: list[str], source_ids: list[str | None], tmp_path: Path
) -> None:
    import csv

    from moderate.service.writers import CsvWriter

    cols = ["id", "source_id", "thread", "position", "toxic", "toxic_decision"]
    batch = {
        "id": ["c1", "c2"],
        "source_id": source_ids,
        "thread": threads,
        "position": [0, 1],
        "toxic": [0.1, 1e-07],
        "toxic_decision": ["allow", "block"],
    }
    writer = CsvWriter(tmp_path / "fast.csv", cols, append=False)
    writer.write(batch)
    writer.close()
    with (tmp_path / "slow.csv").open("w", newline="", encoding="utf-8") as file:
        plain = csv.writer(file)
        plain.writerow(cols)
        plain.writerows(zip(*(batch[c] for c in cols), strict=True))
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
