"""The second opinion's speed (issue 15): batch with it off against the code from before the
issue and alt-profanity-check, batch with it on, the encoder alone, the API with and without.

In one run, on real comments from ../shared/corpora and the shipped reference model:

- off: `moderate score` of a 200,000-comment Wikipedia talk CSV by the code at --before
  (checked out in a git worktree under build/ and put first on PYTHONPATH: same venv, same
  model) and by this checkout's, interleaved with alt-profanity-check's plain script
  (bench/peer_score.py) on the same file, after one untimed run of each;
- on: `moderate score --second-opinion` of the same file, once (tens of minutes: each
  comment in a label's band is embedded, about 20 a second), with progress; the share
  re-scored per label read back from its `<label>_decided_by` columns;
- the encoder alone: Encoder.embed (batch 32) on comments of the same file that fall in a
  band, in a child process: texts/s and CPU time over wall time;
- API: a real `moderate serve`, one comment per request, one request at a time, with and
  without "second_opinion": true, on random real comments and on comments in the toxic
  band (picked with Model.judge), in alternating rounds.

Writes the second-opinion section at the top of bench/RESULTS.md.

Example: .venv/bin/python bench/second_opinion.py --comments 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import numpy as np
import pandas as pd
from service_api import start_server, wait_ready
from service_common import (
    BIN,
    CORPORA,
    ROOT,
    SOURCES,
    WIKI,
    describe_model,
    free_port,
    machine,
    peak_rss_mb,
    real_comments,
    shown,
    timed,
    write_section,
    write_wiki_csv,
)

from moderate.model import semantic
from moderate.model.artifacts import ArtifactError, load
from moderate.model.predict import Model
from moderate.model.second_opinion import SECOND, SecondOpinion

NAME = "second-opinion"
# The last commit before issue 15's second opinion (the plumbing is e00f3eb, its child).
BEFORE = "c1f5816"
WORK = ROOT / "build" / "bench-second-opinion"
ENCODE = """
import json, sys, time
from pathlib import Path
from moderate.model.artifacts import load
from moderate.model.semantic import Encoder
encoder = Encoder(load(Path(sys.argv[1])).second.identity)
texts = json.loads(Path(sys.argv[2]).read_text("utf-8"))
encoder.embed(texts[:32], batch=32)
for _ in range(int(sys.argv[3])):
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.embed(texts, batch=32)
    print(json.dumps({"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""


@dataclass
class Runs:
    """Wall and CPU seconds (user + system, every thread) of a command's timed runs."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def median(self) -> float:
        """The median wall time."""
        return median(self.seconds)

    def cores(self) -> float:
        """Median CPU seconds per wall second: how many cores the command kept busy."""
        return median(c / s for c, s in zip(self.cpu, self.seconds, strict=True))

    def listed(self) -> str:
        """The runs' wall times, in order."""
        return ", ".join(f"{s:.2f}" for s in self.seconds)


@dataclass
class Latencies:
    """One API phase: request latencies (s), requests the second opinion re-scored, errors."""

    comments: str
    second_opinion: bool
    seconds: list[float] = field(default_factory=list)
    rescored: int = 0
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """A latency percentile in ms."""
        return float(np.percentile(np.array(self.seconds) * 1000, q))


@dataclass
class Off:
    """Second opinion off: each command's runs, and whether before and today wrote the same."""

    runs: dict[str, Runs]
    same: bool


@dataclass
class On:
    """Second opinion on: the job's run, its decision and decided_by columns, what it said."""

    runs: Runs
    columns: pd.DataFrame
    said: str

    def asked(self, labels: list[str]) -> dict[str, np.ndarray]:
        """Which comments the second opinion decided, per label."""
        return {x: (self.columns[f"{x}_decided_by"] == SECOND).to_numpy() for x in labels}

    def embedded(self, labels: list[str]) -> int:
        """How many comments were embedded (in any label's band: each is embedded once)."""
        return int(np.logical_or.reduce(list(self.asked(labels).values())).sum())


@dataclass
class Encoded:
    """The encoder alone: each run's wall and CPU seconds, and the texts it embedded."""

    runs: list[dict[str, float]]
    texts: list[str]


@dataclass
class Api:
    """The API phases, the server's peak RSS, and the band the in-band comments are from."""

    phases: list[Latencies]
    rss: float
    label: str
    band_pool: int


def check_inputs(model_dir: Path, peer_python: Path) -> Model:
    """Everything the run needs, checked before any work: the corpora, the encoder, a model
    with a second opinion that runs here, the peer's venv; the model, loaded."""
    where = "the benchmarks read real comments from ../shared/corpora, beside the checkout"
    if not CORPORA.is_dir():
        raise SystemExit(f"no corpora at {CORPORA}: {where}")
    missing = [name for name, *_ in (*SOURCES, *WIKI) if not (CORPORA / name).is_file()]
    if missing:
        raise SystemExit(f"{CORPORA}: missing {', '.join(sorted(set(missing)))}; {where}")
    if not semantic.available():
        raise SystemExit(f"the second opinion's encoder is not installed; {semantic.INSTALL}")
    try:
        model = load(model_dir)
    except ArtifactError as error:
        raise SystemExit(str(error)) from None
    if problem := model.second_opinion_problem():
        raise SystemExit(f"{shown(model_dir)}: {problem}")
    if not peer_python.exists():
        raise SystemExit(f"{peer_python}: no alt-profanity-check venv; make bench/.venv/.installed")
    return model


def git(*args: str, hint: str = "") -> str:
    """A git command's stdout in the checkout (exit with its message and `hint` on failure)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed. {done.stderr.strip()} {hint}".strip())
    return done.stdout.strip()


def checkout(ref: str) -> Path:
    """The code at `ref` in a detached git worktree under build/ (made once, then kept)."""
    hint = f"{ref} is not in this clone's history (a shallow clone: git fetch --unshallow)"
    commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", hint=hint)
    tree = WORK / f"before-{commit[:12]}"
    git("worktree", "prune")
    if not (tree / ".git").exists():
        git("worktree", "add", "--detach", str(tree), commit)
    elif git("-C", str(tree), "rev-parse", "HEAD") != commit:
        raise SystemExit(f"{tree} is not at {commit}: remove it (git worktree remove {tree})")
    return tree


def env_first(tree: Path) -> dict[str, str]:
    """The environment that runs this venv's commands on the code at `tree` (checked)."""
    given = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *([given] if given else [])])}
    probe = "import model, seeds, service, moderate; print(model.__file__, service.__file__)"
    # -P: like a console script, no current directory in front of PYTHONPATH.
    _, where = timed([str(BIN / "python"), "-P", "-c", probe], env)
    if not all(Path(p).is_relative_to(tree) for p in where.split()):
        raise SystemExit(f"PYTHONPATH={tree} does not take precedence: {where.strip()}")
    return env


def cpu_of_children() -> float:
    """CPU seconds (user + system) of every finished child so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command: list[str], runs: Runs, env: dict[str, str] | None = None) -> float:
    """Run a command (timed), add its wall and CPU time to `runs`; its wall time."""
    cpu = cpu_of_children()
    seconds, _ = timed(command, env)
    runs.seconds.append(seconds)
    runs.cpu.append(cpu_of_children() - cpu)
    return seconds


def score_command(wiki: Path, model_dir: Path, output: Path) -> list[str]:
    """`moderate score` of the CSV into output with the model."""
    return [str(BIN / "moderate"), "score", str(wiki), "-o", str(output), "--model", str(model_dir)]


def measure_off(
    args: argparse.Namespace, wiki: Path, model_dir: Path, before_env: dict[str, str]
) -> Off:
    """Before, today, alt-profanity-check, in turns, after one untimed run of each."""
    peer_files = [str(wiki), str(WORK / "off-peer.csv")]
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "before": (score_command(wiki, model_dir, WORK / "off-before.csv"), before_env),
        "today": (score_command(wiki, model_dir, WORK / "off-today.csv"), None),
        "peer": ([str(args.peer_python), str(ROOT / "bench/peer_score.py"), *peer_files], None),
    }
    # One untimed run each: numba caches each tree's compiled engine, files are in memory.
    for command, env in commands.values():
        timed_run(command, Runs(), env)
    runs = {name: Runs() for name in commands}
    for round_ in range(1, args.rounds + 1):
        for name, (command, env) in commands.items():
            seconds = timed_run(command, runs[name], env)
            print(f"off, round {round_}/{args.rounds}: {name} {seconds:.2f} s", flush=True)
    same = (WORK / "off-before.csv").read_bytes() == (WORK / "off-today.csv").read_bytes()
    return Off(runs, same)


def rows_written(partial: Path) -> int:
    """Data rows in a CSV output being written (no text column, so one line a row)."""
    try:
        lines = partial.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
    return max(lines - 1, 0)


def measure_on(args: argparse.Namespace, wiki: Path, model_dir: Path, expected: int) -> On:
    """`moderate score --second-opinion` once, printing its progress."""
    output = WORK / "on.csv"
    command = [*score_command(wiki, model_dir, output), "--second-opinion"]
    partial = output.with_name(output.name + ".partial")
    log = WORK / "on.log"
    runs = Runs()
    cpu = cpu_of_children()
    start = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        while True:
            try:
                process.wait(timeout=args.progress_every)
                break
            except subprocess.TimeoutExpired:
                done, elapsed = rows_written(partial), time.perf_counter() - start
                left = (
                    f", about {(args.comments - done) * elapsed / max(done, 1) / 60:.0f} min left"
                )
                print(
                    f"on: {done:,}/{args.comments:,} comments written after {elapsed / 60:.1f} "
                    f"min{left if done else ''} ({expected:,} to re-score in all); "
                    f"load {load_now()}",
                    flush=True,
                )
    runs.seconds.append(time.perf_counter() - start)
    runs.cpu.append(cpu_of_children() - cpu)
    said = log.read_text("utf-8", errors="replace").strip()
    if process.returncode != 0:
        raise SystemExit(
            f"failed with exit status {process.returncode} (negative: killed by that signal) "
            f"after {runs.seconds[0] / 60:.1f} min: {' '.join(command)}\n{said[-2000:]}"
        )
    columns = pd.read_csv(output, nrows=0).columns
    wanted = [c for c in columns if c.endswith(("_decided_by", "_decision"))]
    frame = pd.read_csv(output, usecols=wanted, dtype=str, keep_default_na=False)
    summary = " ".join(said[said.rfind("read ") :].split())  # its last line, unwrapped
    return On(runs, frame, summary)


def second_of(model: Model) -> SecondOpinion:
    """The model's second opinion."""
    if model.second is None:
        raise SystemExit(f"model {model.version} has no second opinion")
    return model.second


def in_bands(model: Model, texts: list[str]) -> dict[str, np.ndarray]:
    """Which texts each second-opinion head's band holds, by the n-gram probabilities."""
    probabilities = model.judge(texts).probabilities
    heads = second_of(model).heads
    return {label: head.band.holds(probabilities[label]) for label, head in heads.items()}


def load_now() -> str:
    """The machine's load average now."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure_encoder(args: argparse.Namespace, model_dir: Path, texts: list[str]) -> Encoded:
    """Encoder.embed alone, batch 32, in a child process: each run's wall and CPU seconds."""
    unique = sorted(set(texts))
    picked = random.Random(15).sample(unique, min(args.encoder_texts, len(unique)))
    source = WORK / "encoder-texts.json"
    source.write_text(json.dumps(picked), "utf-8")
    command = [str(BIN / "python"), "-c", ENCODE, str(model_dir), str(source)]
    _, out = timed([*command, str(args.encoder_runs)])
    return Encoded([json.loads(line) for line in out.splitlines() if line.startswith("{")], picked)


async def ask(client: httpx.AsyncClient, text: str, phase: Latencies) -> None:
    """One comment, one request; its latency, and whether the second opinion re-scored it."""
    body: dict[str, Any] = {"comments": [{"text": text}]}
    if phase.second_opinion:
        body["second_opinion"] = True
    start = time.perf_counter()
    response = await client.post("/v1/score", json=body)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        phase.errors.append(f"{response.status_code} {response.text[:200]}")
        return
    phase.seconds.append(elapsed)
    opinions = response.json()["comments"][0].get("second_opinion") or {}
    phase.rescored += any(o["decided_by"] == SECOND for o in opinions.values())


async def api_phases(
    port: int, pools: dict[str, list[str]], rounds: int, warm: int = 10
) -> list[Latencies]:
    """Each (comments, with or without) phase in turn, `rounds` times, same texts for both."""
    phases = [Latencies(name, flag) for name in pools for flag in (False, True)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        await wait_ready(client)
        for phase in phases:  # the first second opinion loads the encoder
            for text in pools[phase.comments][:warm]:
                await ask(client, text, Latencies(phase.comments, phase.second_opinion))
        for round_ in range(rounds):
            for phase in phases:
                texts = pools[phase.comments]
                share = texts[round_ * len(texts) // rounds : (round_ + 1) * len(texts) // rounds]
                for text in share:
                    await ask(client, text, phase)
            print(f"api, round {round_ + 1}/{rounds} done", flush=True)
    return phases


def measure_api(args: argparse.Namespace, model: Model, model_dir: Path) -> Api:
    """The API phases on a real `moderate serve`."""
    pool = [t for t in real_comments(limit=20_000) if len(t) <= 5000]
    heads = second_of(model).heads
    label = "toxic" if "toxic" in heads else next(iter(heads))
    held = in_bands(model, pool)[label]
    band = [t for t, inside in zip(pool, held.tolist(), strict=True) if inside]
    if not band:
        raise SystemExit(f"no comment of the pool falls in the {label} band")
    rng = random.Random(16)
    pools = {
        "random real comments": rng.sample(pool, min(args.requests, len(pool))),
        f"comments in the {label} band": (
            rng.sample(band, args.requests)
            if len(band) >= args.requests
            else rng.choices(band, k=args.requests)
        ),
    }
    port = free_port()
    server = start_server(model_dir, port)
    try:
        phases = asyncio.run(api_phases(port, pools, args.api_rounds))
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for phase in phases:
        if phase.errors:
            raise SystemExit(f"API errors ({phase.comments}): {phase.errors[0]}")
    return Api(phases, rss, label, len(band))


def share(count: int, total: int) -> str:
    """`count` as a share of total, and the count."""
    return f"{count / total:.1%} ({count:,})"


def render_off(args: argparse.Namespace, off: Off) -> list[str]:
    """The part with the second opinion off."""
    n = args.comments
    before, today, peer = off.runs["before"], off.runs["today"], off.runs["peer"]
    ratio = today.median() / before.median()
    verdict = "met" if ratio <= 1.0 else f"**missed**, {ratio - 1:.1%} slower"
    turns = ", ".join(f"{t / b:.3f}" for t, b in zip(today.seconds, before.seconds, strict=True))
    rows = (
        (f"`moderate score`, code before issue 15 ({args.before})", before),
        ("`moderate score`, today's code", today),
        ("alt-profanity-check, plain script (bench/peer_score.py)", peer),
    )
    return [
        "### Second opinion off: `moderate score` before this issue and today",
        "",
        "Each command timed whole (start-up, reading, scoring, writing), in turns before, "
        f"today, alt-profanity-check, {args.rounds} rounds, after one untimed run of each. "
        f"Before: the code at {args.before} in a git worktree under build/, first on "
        "PYTHONPATH, same venv, same model, same file.",
        "",
        "| run | median s | comments/s | CPU s / wall s | runs (s) |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {r.median():.2f} | {n / r.median():,.0f} | {r.cores():.2f} "
            f"| {r.listed()} |"
            for name, r in rows
        ),
        "",
        f"- Today / before, median wall time: **{ratio:.3f}** (target no slower: {verdict}); "
        f"round by round {turns}.",
        f"- Today against alt-profanity-check: {peer.median() / today.median():.2f}x its "
        f"speed (before: {peer.median() / before.median():.2f}x).",
        f"- The outputs of before and today byte-identical: {'yes' if off.same else '**no**'}.",
    ]


def render_on(args: argparse.Namespace, labels: list[str], on: On, off: Off) -> list[str]:
    """The part with the second opinion on."""
    n, seconds = args.comments, on.runs.median()
    asked = on.asked(labels)
    decisions = [f"{label}_decision" for label in labels]
    first = pd.read_csv(WORK / "off-today.csv", usecols=decisions, dtype=str)
    changed = {
        x: int((on.columns[f"{x}_decision"] != first[f"{x}_decision"]).sum()) for x in labels
    }
    return [
        f"### Second opinion on: `moderate score --second-opinion`, the same {n:,} comments",
        "",
        "| what | figure |",
        "|---|---|",
        f"| wall time, whole job | {seconds:,.0f} s ({seconds / 60:.1f} min) |",
        f"| whole-job rate | {n / seconds:,.1f} comments/s (the job takes "
        f"{seconds / off.runs['today'].median():,.0f}x as long as with it off) |",
        f"| CPU s / wall s | {on.runs.cores():.2f} |",
        *(
            f"| re-scored for {label} (`{label}_decided_by` = second_opinion) "
            f"| {share(int(asked[label].sum()), n)} |"
            for label in labels
        ),
        f"| embedded once (in any label's band) | {share(on.embedded(labels), n)} |",
        *(
            f"| {label} decisions changed against the run with it off "
            f"| {share(changed[label], n)} |"
            for label in labels
        ),
        "",
        f"- `moderate score` said: {on.said}",
    ]


def render_encoder(encoded: Encoded, embedded: int, job_seconds: float) -> list[str]:
    """The part on the encoder alone."""
    count = len(encoded.texts)
    rates = [count / r["seconds"] for r in encoded.runs]
    cores = median(r["cpu"] / r["seconds"] for r in encoded.runs)
    length = np.mean([min(len(t), semantic.MAX_CHARS) for t in encoded.texts])
    return [
        "### The encoder alone",
        "",
        f"`Encoder.embed`, batch 32, on {count:,} distinct comments of the same file that "
        f"fall in a band (mean {length:,.0f} characters as encoded, cut at "
        f"{semantic.MAX_CHARS:,}), in a child process after a warm-up batch; "
        f"{len(rates)} runs.",
        "",
        "| texts/s (median) | runs (texts/s) | CPU s / wall s (median) |",
        "|---|---|---|",
        f"| {median(rates):.1f} | {', '.join(f'{r:.1f}' for r in rates)} | {cores:.2f} |",
        "",
        f"- The {embedded:,} comments the job embedded, at this rate: "
        f"{embedded / median(rates):,.0f} s; the whole job took {job_seconds:,.0f} s.",
    ]


def render_api(args: argparse.Namespace, api: Api) -> list[str]:
    """The API part."""
    return [
        "### API: one comment per request, one request at a time",
        "",
        "A real `moderate serve` (1 worker) on 127.0.0.1 and the httpx client in this process; "
        f"{args.requests} requests per phase after 10 to warm up, in {args.api_rounds} rounds "
        "taking the phases in turn; the same comments with and without the second opinion. "
        "Random: drawn from the first 20,000 real comments of the corpora. In the "
        f"{api.label} band: drawn from the {api.band_pool:,} of those whose n-gram "
        f"{api.label} probability (Model.judge) falls in the head's band.",
        "",
        "| comments | second_opinion | requests | p50 ms | p99 ms | re-scored |",
        "|---|---|---|---|---|---|",
        *(
            f"| {p.comments} | {'true' if p.second_opinion else 'false'} | {len(p.seconds)} "
            f"| {p.percentile(50):.1f} | {p.percentile(99):.1f} "
            f"| {share(p.rescored, len(p.seconds)) if p.second_opinion else '–'} |"
            for p in api.phases
        ),
        "",
        f"- Peak server memory (VmHWM), the encoder loaded: {api.rss:.0f} MB.",
    ]


def render(
    args: argparse.Namespace,
    model: Model,
    model_dir: Path,
    wiki: Path,
    parts: tuple[Off, On, Encoded, Api],
    loads: dict[str, str],
) -> str:
    """The second-opinion section of RESULTS.md."""
    off, on, encoded, api = parts
    second = second_of(model)
    heads = ", ".join(f"{x} [{h.band.low:.3f}, {h.band.high:.3f})" for x, h in second.heads.items())
    labels = list(model.labels)
    command = "python bench/second_opinion.py " + " ".join(sys.argv[1:])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"## The second opinion's speed (issue 15), {when}",
        "",
        f"Command: `{command.strip()}` (`make bench-second-opinion`)",
        "",
        f"- Model: {describe_model(model_dir)}, with its second opinion: "
        f"{second.identity.package} {second.identity.version}, a head per label re-scoring "
        f"the n-gram band {heads}.",
        f"- Comments: {args.comments:,} Wikipedia talk comments, a "
        f"{wiki.stat().st_size / 1e6:.0f} MB CSV (id, text) of the Jigsaw 2018 subset and the "
        "Wikipedia-with-context corpora, about 31,000 comments repeated in order.",
        f"- Machine: {loads['start']} at the start (2 cores shared with other work: absolute "
        "figures move with the load; ratios measured side by side move less).",
        "",
        *render_off(args, off),
        f"- Load average after this part: {loads['off']}.",
        "",
        *render_on(args, labels, on, off),
        f"- Load average after this part: {loads['on']}.",
        "",
        *render_encoder(encoded, on.embedded(labels), on.runs.median()),
        f"- Load average after this part: {loads['encoder']}.",
        "",
        *render_api(args, api),
        f"- Load average after this part: {loads['api']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    """Check the inputs, measure off / on / encoder / API, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=ROOT / "model/reference",
        help="artifact dir with a second opinion (default: the shipped reference model)",
    )  # fmt: skip
    parser.add_argument("--comments", type=int, default=200_000, help="rows of the CSV")
    parser.add_argument("--rounds", type=int, default=5, help="turns of before/today/peer")
    parser.add_argument("--before", default=BEFORE, help="git ref of the code before the issue")
    parser.add_argument("--encoder-texts", type=int, default=1000)
    parser.add_argument("--encoder-runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="per API phase")
    parser.add_argument("--api-rounds", type=int, default=3)
    parser.add_argument("--progress-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--peer-python", type=Path, default=ROOT / "bench/.venv/bin/python")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    model_dir = args.model.resolve()
    model = check_inputs(model_dir, args.peer_python)
    WORK.mkdir(parents=True, exist_ok=True)
    loads = {"start": machine()}
    wiki = WORK / f"wiki-{args.comments}.csv"
    if not wiki.exists():
        write_wiki_csv(wiki, args.comments)
    off = measure_off(args, wiki, model_dir, env_first(checkout(args.before)))
    loads["off"] = load_now()
    texts = pd.read_csv(wiki, usecols=["text"], dtype=str, keep_default_na=False)["text"]
    held = np.logical_or.reduce(list(in_bands(model, texts.tolist()).values()))
    banded = texts[held].tolist()
    print(f"on: {len(banded):,} of {len(texts):,} comments in a band, at 20/s about "
          f"{len(banded) / 20 / 60:.0f} min", flush=True)  # fmt: skip
    on = measure_on(args, wiki, model_dir, len(banded))
    loads["on"] = load_now()
    encoded = measure_encoder(args, model_dir, banded)
    loads["encoder"] = load_now()
    api = measure_api(args, model, model_dir)
    loads["api"] = load_now()
    section = render(args, model, model_dir, wiki, (off, on, encoded, api), loads)
    print(section)
    if not args.no_write:
        write_section(NAME, section, first=True)


if __name__ == "__main__":
    main()
