"""The review queue's speed with 100,000 items: `review add`, the first page, a decision.

Scores 100,000 real comments from ../shared/corpora once (`moderate score
--include-text`), then, each a median over repeats on a fresh queue file:
`moderate review add` of all of them (every band, so the queue holds 100,000); the
first page of `moderate review` over HTTP (HTML and its JSON twin, also filtered by
label and sorted by uncertainty); and in Debian's Chromium, the time from a decision's
key press to the next item on screen (the page records it in window.reviewTimings).
Everything is written under build/bench-review, never to labels/data.

    nice -n 10 .venv/bin/python bench/review_queue.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import (
    BIN,
    ROOT,
    default_model,
    describe_model,
    free_port,
    machine,
    write_dump,
    write_section,
)

WORK = ROOT / "build" / "bench-review"
NAME = "review-queue"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def env(db: Path) -> dict[str, str]:
    """The environment of the commands: this queue, a throwaway label store, no keys."""
    values = {
        **os.environ,
        "MODERATE_REVIEW_DB": str(db),
        "MODERATE_DATA_DIR": str(WORK / "labels"),
    }
    for name in ("MODERATE_API_KEYS", "MODERATE_API_KEY_FILE"):
        values.pop(name, None)
    return values


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def scored_input(count: int, model: Path) -> Path:
    """A scored CSV (with text) of `count` real comments, made once."""
    scored = WORK / f"scored-{count}.csv"
    if not scored.exists():
        dump = WORK / f"dump-{count}.jsonl"
        write_dump(dump, count)
        subprocess.run(
            [str(BIN / "moderate"), "score", str(dump), "-o", str(scored), "--include-text",
             "--model", str(model)],
            check=True, capture_output=True,
        )  # fmt: skip
    return scored


def time_add(scored: Path, repeats: int) -> tuple[list[float], str]:
    """Seconds of `moderate review add` of every row, each time into a fresh queue."""
    seconds, said = [], ""
    for i in range(repeats):
        db = WORK / f"add-{i}.sqlite"
        for stale in WORK.glob(f"add-{i}.sqlite*"):
            stale.unlink()
        start = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "moderate"), "review", "add", str(scored), "--band", "allow,review,block"],
            env=env(db), check=True, capture_output=True, text=True,
        )  # fmt: skip
        seconds.append(time.perf_counter() - start)
        said = done.stdout.strip()
    return seconds, said


def time_pages(url: str, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per GET of the first page: HTML, JSON twin, filtered and sorted."""
    pages = {
        "/ (HTML, by score)": "/",
        "/queue.json": "/queue.json",
        "/?label=toxic&sort=uncertainty": "/?label=toxic&sort=uncertainty",
        "/queue.json?label=conspiracy&band=review": "/queue.json?label=conspiracy&band=review",
    }
    times: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/").raise_for_status()  # a session cookie, as a browser gets
        for name, path in pages.items():
            client.get(path).raise_for_status()
            times[name] = []
            for _ in range(repeats):
                start = time.perf_counter()
                client.get(path).raise_for_status()
                times[name].append(1000 * (time.perf_counter() - start))
    return times


def time_decisions(url: str, count: int) -> list[float] | str:
    """Key press to next item shown, in the browser, for `count` decisions (ms)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return "no Chromium installed (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready]")
        page.wait_for_timeout(500)
        for n in range(count):
            before = page.get_attribute("#detail", "data-id")
            page.keyboard.press("a" if n % 2 else "r")
            page.wait_for_function(
                "id => document.getElementById('detail').dataset.id !== id", arg=before
            )
            page.wait_for_timeout(20)  # a moderator reads; the lease and prefetch finish
        timings = [float(t) for t in page.evaluate("window.reviewTimings")]
        browser.close()
    return timings


def serve(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`moderate review` on a free port, waited for."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moderate"), "review", "--port", str(port)],
        env=env(db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/queue.json", timeout=2).status_code in (200, 401):
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("moderate review did not start")


def main() -> None:
    """Run the three measurements and record them in bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of review add")
    parser.add_argument("--pages", type=int, default=20, help="GETs of each first page")
    parser.add_argument("--decisions", type=int, default=200, help="decisions in the browser")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    model = default_model(args.model)
    scored = scored_input(args.items, model)
    adds, said = time_add(scored, args.repeats)
    process, url = serve(WORK / "add-0.sqlite")
    try:
        pages = time_pages(url, args.pages)
        decisions = time_decisions(url, args.decisions)
    finally:
        process.terminate()
        process.wait(timeout=60)
    lines = [
        f"## The review queue (issue 14), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`nice -n 10 .venv/bin/python bench/review_queue.py --items {args.items} --repeats "
        f"{args.repeats} --pages {args.pages} --decisions {args.decisions}` on {machine()}; "
        f"model {describe_model(model)}. {args.items:,} real comments from ../shared/corpora, "
        "scored once with `moderate score --include-text`, all queued (`--band "
        "allow,review,block`), so the queue holds every one of them.",
        "",
        "| what | median | p95 | runs | target |",
        "|---|---|---|---|---|",
        f"| `moderate review add` of {args.items:,} scored rows, whole command | "
        f"{statistics.median(adds):.2f} s | – | {len(adds)} ({', '.join(f'{s:.2f}' for s in adds)}"
        " s) | < 10 s |",
    ]
    for name, times in pages.items():
        target = "< 300 ms" if name.startswith("/ (HTML") else "–"
        lines.append(
            f"| first page `{name}`, over HTTP, {args.items:,} queued | "
            f"{statistics.median(times):.1f} ms | {percentile(times, 0.95):.1f} ms | "
            f"{len(times)} | {target} |"
        )
    if isinstance(decisions, str):
        lines.append(f"| decision round trip in the browser | not measured: {decisions} | | | |")
    else:
        lines.append(
            f"| decision round trip in Chromium: key press to next item shown | "
            f"{statistics.median(decisions):.1f} ms | {percentile(decisions, 0.95):.1f} ms | "
            f"{len(decisions)} | p95 < 50 ms |"
        )
    lines += ["", f"`review add` said: {said}"]
    write_section(NAME, "\n".join(lines), first=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
