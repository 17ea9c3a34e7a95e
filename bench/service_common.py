"""Shared by the benchmarks: real comments, the model to use, RESULTS.md sections."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
CORPORA = ROOT.parent / "shared" / "corpora"
BIN = ROOT / ".venv" / "bin"
# (file, text column, separator): real comments in several registers, toxicity and conspiracy.
SOURCES = (
    ("toxicity/jigsaw2018_subset.csv", "comment_text", ","),
    ("toxicity/civil_toxic_spans_train.csv", "text", ","),
    ("toxicity/wiki_context_large_gc.csv", "text", ","),
    ("toxicity/wiki_context_large_gn.csv", "text", ","),
    ("toxicity/davidson_tweets.csv", "tweet", ","),
    ("toxicity/olid_train.tsv", "tweet", "\t"),
    ("toxicity/stormfront_sentences.csv", "text", ","),
    ("conspiracy/mediaeval2020_5g_tweets.csv", "Text", ","),
    ("conspiracy/psycomark_reddit_text.jsonl", "text", ""),
    ("toxicity/ethos_binary.csv", "comment", ";"),
    ("toxicity/wiki_context_small.csv", "text", ","),
)


def real_comments(corpora: Path = CORPORA, limit: int | None = None) -> Iterator[str]:
    """Non-blank comment texts from the shared corpora, in a fixed order."""
    count = 0
    for name, column, sep in SOURCES:
        path = corpora / name
        if sep:
            frame = pd.read_csv(
                path, usecols=[column], dtype=str, keep_default_na=False, sep=sep,
                encoding_errors="replace",
            )  # fmt: skip
        else:
            frame = pd.read_json(path, lines=True, dtype=False)[[column]].astype(str)
        for text in frame[column]:
            if text.strip():
                yield text
                count += 1
                if limit is not None and count >= limit:
                    return


def write_dump(path: Path, count: int, corpora: Path = CORPORA) -> int:
    """A JSON Lines comment dump of `count` real comments (outside git, under build/)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8") as file:
        while written < count:  # the corpora hold about 100k; go round again if short
            before = written
            for text in real_comments(corpora, count - written):
                written += 1
                file.write(json.dumps({"id": f"b{written}", "body": text}) + "\n")
            if written == before:
                raise SystemExit(f"no comments found in {corpora}")
    return written


# Wikipedia talk comments (the register of the 200,000-comment measurement).
WIKI = (
    ("toxicity/jigsaw2018_subset.csv", "comment_text"),
    ("toxicity/wiki_context_large_gc.csv", "text"),
    ("toxicity/wiki_context_large_gn.csv", "text"),
    ("toxicity/wiki_context_small.csv", "text"),
)


def write_wiki_csv(path: Path, count: int, corpora: Path = CORPORA) -> int:
    """A CSV (id, text) of `count` Wikipedia talk comments; the corpora hold about 31,000,
    so they repeat in order (each row keeps its own id and position)."""
    texts: list[str] = []
    for name, column in WIKI:
        frame = pd.read_csv(corpora / name, usecols=[column], dtype=str, keep_default_na=False)
        texts += [t for t in frame[column] if t.strip()]
    if not texts:
        raise SystemExit(f"no comments found in {corpora}")
    rows = [(f"w{i}", texts[i % len(texts)]) for i in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["id", "text"]).to_csv(path, index=False)
    return len(texts)


def default_model(given: Path | None) -> Path:
    """--model, else the benchmark's reference model, else model/artifacts/current, else
    the shipped model/reference."""
    for candidate in (
        given,
        ROOT / "build/bench/artifacts/current",
        ROOT / "model/artifacts/current",
        ROOT / "model/reference",
    ):
        if candidate is not None and candidate.exists():
            return candidate.resolve()
    raise SystemExit("no model: pass --model")


def shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def describe_model(path: Path) -> str:
    """The artifact's version and how many labelled rows per label trained it."""
    meta = json.loads((path / "metadata.json").read_text("utf-8"))
    counts = meta.get("label_counts", {})
    rows = ", ".join(f"{label} {c.get('rows', 0):,} rows" for label, c in counts.items())
    return f"`{meta.get('version', path.name)}` at `{shown(path)}` (trained on {rows})"


def machine() -> str:
    """Cores, Python and the load average now (the machine is shared)."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"


def timed(command: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[float, str]:
    """Run a command in the checkout; its wall time and stdout (exit on failure)."""
    start = time.perf_counter()
    done = subprocess.run(
        list(command), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_section(name: str, section: str, path: Path = RESULTS, first: bool = False) -> None:
    """Replace this benchmark's section of RESULTS.md (between its markers), keep the rest;
    a new section goes last, or with `first` right under the title."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = f"{start}\n{section.strip()}\n{end}"
    text = path.read_text("utf-8") if path.exists() else "# Benchmark results\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body + rest.split(end, 1)[1]
    elif first:
        title, rest = text.split("\n", 1)
        text = f"{title}\n\n{body}\n{rest}"
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    tmp = path.with_name(path.name + ".service.tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)
