"""Batch scoring throughput: `moderate score` on a 100,000-comment dump, local vs dask engine,
beside the raw model throughput (Model.score over the same texts, same batch size); and the
whole command on 200,000 Wikipedia talk comments, CSV in and CSV out, beside
alt-profanity-check doing the same job in a plain script (bench/peer_score.py), same run.

The dump (JSON Lines of real comments from ../shared/corpora) is built under build/bench/.
The dask engine runs on a real local cluster started here: `dask scheduler` and two
`dask worker` processes (one thread each) on 127.0.0.1, stopped at the end. Every phase
is a child process timed wall-clock, including its start-up. Writes the batch part of
bench/RESULTS.md.

Example: .venv/bin/python bench/service_batch.py --comments 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

from service_common import (
    BIN,
    ROOT,
    default_model,
    describe_model,
    free_port,
    machine,
    timed,
    write_dump,
    write_wiki_csv,
)
from service_common import write_section as write_results

RAW = """
import csv, json, sys, time
from pathlib import Path
from moderate.model.artifacts import load
model = load(Path(sys.argv[1]))
if sys.argv[2].endswith(".csv"):
    csv.field_size_limit(sys.maxsize)
    texts = [row["text"] for row in csv.DictReader(open(sys.argv[2], encoding="utf-8"))]
else:
    texts = [json.loads(line)["body"] for line in open(sys.argv[2], encoding="utf-8")]
size = int(sys.argv[3])
model.score(texts[:size])
start = time.perf_counter()
for i in range(0, len(texts), size):
    model.score(texts[i : i + size])
print(len(texts) / (time.perf_counter() - start))
"""


@contextmanager
def cluster(workers: int) -> Iterator[str]:
    """A dask scheduler and `workers` single-threaded worker processes on loopback."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(BIN / "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [
        [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"]
        for _ in range(workers)
    ]
    processes = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands
    ]
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def whole_command(args: argparse.Namespace, model: Path) -> list[str]:
    """`moderate score` CSV -> CSV against alt-profanity-check's plain script, alternating."""
    wiki = args.out / f"wiki-{args.wiki}.csv"
    if not wiki.exists():
        write_wiki_csv(wiki, args.wiki)
    ours_cmd = [str(BIN / "moderate"), "score", str(wiki), "-o", str(args.out / "wiki-ours.csv")]
    ours_cmd += ["--model", str(model)]
    peer_cmd = [str(args.peer_python), str(ROOT / "bench/peer_score.py"), str(wiki)]
    peer_cmd.append(str(args.out / "wiki-peer.csv"))
    raw_cmd = [str(BIN / "python"), "-c", RAW, str(model), str(wiki), str(args.batch_size)]
    ours, peer, raw = [], [], []
    for _ in range(args.rounds):
        ours.append(timed(ours_cmd)[0])
        peer.append(timed(peer_cmd)[0])
        raw.append(float(timed(raw_cmd)[1].strip().splitlines()[-1]))
    n = args.wiki
    ours_s, peer_s, raw_rate = median(ours), median(peer), median(raw)
    return [
        f"### {n:,} Wikipedia talk comments, CSV in, CSV out, whole command",
        "",
        f"- {wiki.stat().st_size / 1e6:.0f} MB CSV (id, text) of the Jigsaw 2018 subset and "
        "the Wikipedia-with-context corpora, about 31,000 comments repeated in order; "
        f"{args.rounds} alternating rounds, medians. Each command is timed whole: Python "
        "start-up, imports, model load, reading, scoring, writing.",
        f"- Machine: {machine()}.",
        "",
        "| run | seconds | comments/s | ratio |",
        "|---|---|---|---|",
        f"| `moderate score wiki.csv -o out.csv` (all cores) | {ours_s:.2f} | {n / ours_s:,.0f} "
        f"| {peer_s / ours_s:.2f}x alt-profanity-check |",
        f"| alt-profanity-check in a plain script (bench/peer_score.py) | {peer_s:.2f} | "
        f"{n / peer_s:,.0f} | |",
        f"| raw engine: `Model.score`, texts in memory, batches of {args.batch_size:,} | "
        f"{n / raw_rate:.2f} | {raw_rate:,.0f} | `moderate score` at "
        f"{n / ours_s / raw_rate:.0%} of it |",
        "",
        f"- Targets: whole command >= 1.0x alt-profanity-check: "
        f"**{'met' if peer_s / ours_s >= 1 else 'missed'}**; `moderate score` >= 90% of the "
        f"raw engine: **{'met' if n / ours_s / raw_rate >= 0.9 else 'missed'}**.",
    ]


def main() -> None:
    """Build the dump, time raw / local / dask, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="artifact dir (default: reference model)")
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    parser.add_argument("--wiki", type=int, default=200_000, help="rows of the CSV phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs, CSV phase")
    parser.add_argument("--peer-python", type=Path, default=ROOT / "bench/.venv/bin/python")
    args = parser.parse_args()
    model = default_model(args.model)
    whole = whole_command(args, model)
    dump = args.out / f"dump-{args.comments}.jsonl"
    if not dump.exists():
        write_dump(dump, args.comments)
    n = args.comments
    python = str(BIN / "python")
    raw_s, raw_out = timed([python, "-c", RAW, str(model), str(dump), str(args.batch_size)])
    raw_rate = float(raw_out.strip().splitlines()[-1])
    score = [str(BIN / "moderate"), "score", str(dump), "--model", str(model)]
    score += ["--batch-size", str(args.batch_size)]
    local_out, dask_out = args.out / "scored-local.csv", args.out / "scored-dask.csv"
    local_s, _ = timed([*score, "-o", str(local_out)])
    with cluster(args.workers) as address:
        dask_s, _ = timed([*score, "-o", str(dask_out), "--engine", "dask", "--scheduler", address])
    same = local_out.read_bytes() == dask_out.read_bytes()
    rows = [
        (
            "raw `Model.score` in one process (model loaded, texts in memory)",
            n / raw_rate,
            raw_rate,
        ),
        ("`moderate score` local engine -> CSV", local_s, n / local_s),
        (
            f"`moderate score` dask engine, {args.workers} workers x 1 thread -> CSV",
            dask_s,
            n / dask_s,
        ),
    ]
    command = "python bench/service_batch.py " + " ".join(sys.argv[1:])
    lines = [
        "## Service: batch scoring (`moderate score`)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"- {n:,} real comments from ../shared/corpora as one JSON Lines dump "
        f"({dump.stat().st_size / 1e6:.0f} MB, built by the script under build/bench/), "
        f"batch size {args.batch_size:,}, model {describe_model(model)}.",
        f"- Machine: {machine()} (shared with other jobs: figures move with load).",
        "- Wall time of each child process, start-up (imports, model load) included; the raw "
        "rate excludes loading. Dask: a real scheduler and workers on 127.0.0.1.",
        "",
        "| run | seconds | comments/s | vs raw |",
        "|---|---|---|---|",
        *(
            f"| {name} | {secs:.1f} | {rate:,.0f} | {rate / raw_rate:.0%} |"
            for name, secs, rate in rows
        ),
        "",
        f"- Local and dask outputs byte-identical: {'yes' if same else 'NO'}.",
        f"- Local at {rows[1][2] / raw_rate:.0%} of the raw rate (start-up included).",
    ]
    section = "\n".join([*lines, "", *whole])
    print(section)
    print(json.dumps({"raw_s": raw_s}), file=sys.stderr)
    if not args.no_write:
        write_results("service-batch", section)


if __name__ == "__main__":
    main()
