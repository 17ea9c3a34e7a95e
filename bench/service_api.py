"""HTTP API speed on loopback: RPS and p50/p99 latency, peak server memory, p99 at a fixed rate.

Starts `moderate serve` (one worker) on a free 127.0.0.1 port, then with an httpx async
client: (1) closed loop at a fixed concurrency for single-comment and 100-comment
requests, (2) open loop at a fixed request rate for single comments, latency counted from
the moment each request was due (so a slow server cannot hide its queue). Every phase is
bounded in time and in requests. Writes the API part of bench/RESULTS.md.

Example: .venv/bin/python bench/service_api.py --seconds 10 --concurrency 8 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from service_common import (
    BIN,
    ROOT,
    default_model,
    describe_model,
    free_port,
    machine,
    peak_rss_mb,
    real_comments,
    write_section,
)


@dataclass
class Phase:
    """One measured phase: its name, latencies (s), errors and wall time."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server: dict[float, float] = field(default_factory=dict)
    rps: float | None = None  # set by an external client (wrk), which counts for itself
    percentiles: dict[int, float] = field(default_factory=dict)

    def row(self, comments_per_request: int) -> str:
        """A Markdown table row."""
        lat = np.array(self.latencies) * 1000
        if self.rps is not None:
            rps, count = self.rps, round(self.rps * self.seconds)
            p50, p99 = self.percentiles[50], self.percentiles[99]
        else:
            rps, count = (len(lat) / self.seconds if self.seconds else 0.0), len(lat)
            p50, p99 = (np.percentile(lat, q) for q in (50, 99)) if len(lat) else (np.nan, np.nan)
        return (
            f"| {self.name} | {count:,} | {rps:,.0f} | {rps * comments_per_request:,.0f} "
            f"| {p50:.1f} | {p99:.1f} | {self.errors} |"
        )


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    """`moderate serve` on 127.0.0.1:port, no access log noise kept."""
    env = {**os.environ, "MODERATE_MAX_COMMENTS": "1000", "MODERATE_MAX_COMMENT_CHARS": "5000"}
    command = [str(BIN / "moderate"), "serve", "--port", str(port), "--model", str(model)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(client: httpx.AsyncClient, seconds: float = 120) -> None:
    """Poll /readyz until the model is loaded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("server not ready in time")


async def post(client: httpx.AsyncClient, texts: list[str], phase: Phase, due: float) -> None:
    """One scoring request; latency from `due` (when it should have been sent)."""
    body = {"comments": [{"text": t} for t in texts]}
    try:
        response = await client.post("/v1/score", json=body)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    if ok:
        phase.latencies.append(time.perf_counter() - due)
    else:
        phase.errors += 1


async def closed_loop(
    client: httpx.AsyncClient, pool: list[str], size: int, args: argparse.Namespace
) -> Phase:
    """`concurrency` senders back to back until the time or request budget is spent."""
    phase = Phase(f"{size} comment{'s' if size > 1 else ''}/request, {args.concurrency} concurrent")
    rng = random.Random(size)
    budget = args.max_requests
    start = time.perf_counter()
    deadline = start + args.seconds

    async def sender() -> None:
        nonlocal budget
        while budget > 0 and time.perf_counter() < deadline:
            budget -= 1
            texts = rng.sample(pool, size)
            await post(client, texts, phase, time.perf_counter())

    await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    phase.seconds = time.perf_counter() - start
    return phase


async def open_loop(client: httpx.AsyncClient, pool: list[str], args: argparse.Namespace) -> Phase:
    """Single comments sent at a fixed rate for `seconds` (at most max_requests)."""
    phase = Phase(f"1 comment/request at {args.rate:g} requests/s (open loop)")
    total = min(int(args.rate * args.seconds), args.max_requests)
    rng = random.Random(0)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        due = start + i / args.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(post(client, [rng.choice(pool)], phase, due)))
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - start
    return phase


WRK_SCRIPT = """
bodies = {%s}
counter = 0
request = function()
  counter = counter %% #bodies + 1
  return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"}, bodies[counter])
end
"""


def wrk_phase(pool: list[str], port: int, args: argparse.Namespace) -> Phase | None:
    """1 comment/request from wrk (a C client, so the client is not what is measured)."""
    if shutil.which("wrk") is None:
        return None
    rng = random.Random(1)
    bodies = [json.dumps({"comments": [{"text": t}]}) for t in rng.sample(pool, 500)]
    lua = ROOT / "build/bench/wrk-score.lua"
    lua.parent.mkdir(parents=True, exist_ok=True)
    lua.write_text(WRK_SCRIPT % ", ".join(_lua_string(b) for b in bodies), "utf-8")
    command = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{args.seconds:g}s", "--latency"]
    command += ["-s", str(lua), f"http://127.0.0.1:{port}/v1/score"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    phase = Phase(f"1 comment/request, {args.concurrency} concurrent, wrk client")
    phase.seconds = args.seconds
    phase.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    phase.percentiles = {q: _ms(re.search(rf"\s{q}%\s+(\S+)", out).group(1)) for q in (50, 99)}  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    phase.errors = int(errors.group(1)) if errors else 0
    return phase


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]" if "]==]" not in text else json.dumps(text)


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def measure(args: argparse.Namespace, pool: list[str], port: int) -> list[tuple[Phase, int]]:
    """Warm up, then run the three phases."""
    limits = httpx.Limits(max_connections=max(args.concurrency, 64))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await wait_ready(client)
        warm = Phase("warm-up")
        for _ in range(30):
            await post(client, pool[:100], warm, time.perf_counter())
        single = await closed_loop(client, pool, 1, args)
        hundred = await closed_loop(client, pool, 100, args)
        before = await server_buckets(client)
        paced = await open_loop(client, pool, args)
        after = await server_buckets(client)
    paced.server = {le: after[le] - before.get(le, 0) for le in after}
    return [(single, 1), (hundred, 100), (paced, 1)]


async def server_buckets(client: httpx.AsyncClient) -> dict[float, float]:
    """The server's own latency histogram for /v1/score (cumulative count per bucket)."""
    text = (await client.get("/metrics")).text
    buckets = {}
    for line in text.splitlines():
        if line.startswith("moderate_request_seconds_bucket") and '"/v1/score"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def server_p99(buckets: dict[float, float]) -> str:
    """The histogram bucket the server-side 99th percentile falls in."""
    total = buckets.get(float("inf"), 0.0)
    for le in sorted(buckets):
        if total and buckets[le] >= 0.99 * total:
            return f"<= {le * 1000:g} ms" if le != float("inf") else "> 10 s"
    return "n/a"


def render(
    args: argparse.Namespace,
    model: Path,
    rows: list[tuple[Phase, int]],
    rss: float,
    alone: tuple[float, float],
) -> str:
    """The API part of RESULTS.md."""
    paced_phase = rows[-1][0]
    paced = np.array(paced_phase.latencies) * 1000
    p99 = float(np.percentile(paced, 99)) if len(paced) else float("nan")
    verdict = "meets" if p99 < 10 else "misses"
    fastest = max(phase.rps or len(phase.latencies) / phase.seconds for phase, n in rows if n == 1)
    command = "python bench/service_api.py " + " ".join(sys.argv[1:])
    return "\n".join(
        [
            "## Service: HTTP API on loopback",
            "",
            f"Command: `{command.strip()}`",
            "",
            f"- Server: `moderate serve` (1 uvicorn worker) on 127.0.0.1 with model "
            f"{describe_model(model)}; clients in another process on the same machine (they "
            "compete with the server for the 2 cores): httpx async, and wrk (C) for one phase, "
            "since the Python client saturates before the server does.",
            f"- Machine: {machine()}.",
            f"- Each phase bounded by {args.seconds:g} s and {args.max_requests:,} requests; "
            "comments drawn at random from real corpus comments; latency per request, "
            "client side; open-loop latency counted from when each request was due.",
            "",
            "| phase | requests | requests/s | comments/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|---|",
            *(phase.row(size) for phase, size in rows),
            "",
            f"- Peak server memory (VmHWM of the server process): {rss:.0f} MB "
            f"(target < 250 MB: {'meets' if rss < 250 else 'misses'}).",
            f"- Target >= 1,000 requests/s for one comment per request: "
            f"{'meets' if fastest >= 1000 else 'misses'} ({fastest:,.0f}).",
            f"- Target p99 < 10 ms for one comment at {args.rate:g} requests/s: {verdict} "
            f"({p99:.1f} ms client side; server side, from its own /metrics histogram, "
            f"the p99 is {server_p99(paced_phase.server)}).",
            f"- The floor: `Model.score` on one comment, in-process, no HTTP: p50 "
            f"{alone[0]:.1f} ms, p99 {alone[1]:.1f} ms in the same run. Concurrent requests are "
            "scored together (service/batcher.py), which is what lets one worker pass "
            "1/(per-call cost) requests/s.",
        ]
    )


def model_alone(model: Path, pool: list[str], calls: int = 300) -> tuple[float, float]:
    """p50 and p99 (ms) of Model.score on one comment in this process: the floor for the API."""
    from moderate.model.artifacts import load

    scorer = load(model)
    for text in pool[:20]:
        scorer.score([text])
    times = []
    for text in pool[:calls]:
        start = time.perf_counter()
        scorer.score([text])
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    """Start the server, measure, stop it, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="artifact dir (default: reference model)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--max-requests", type=int, default=5000, help="per phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop requests/s")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    model = default_model(args.model)
    pool = [t for t in real_comments(limit=20_000) if len(t) <= 5000]
    alone = model_alone(model, pool)
    port = free_port()
    server = start_server(model, port)
    try:
        rows = asyncio.run(measure(args, pool, port))
        wrk = wrk_phase(pool, port, args)
        if wrk is not None:
            rows.insert(1, (wrk, 1))
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    section = render(args, model, rows, rss, alone)
    print(section)
    if not args.no_write:
        write_section("service-api", section)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
