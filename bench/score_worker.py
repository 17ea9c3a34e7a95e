"""Timing harness run in each engine's own venv: load, then score a text file N times.

Standalone on purpose (stdlib, numpy, joblib only) so the very same code times our model in
.venv and alt-profanity-check in bench/.venv. Prints one JSON object on stdout.

"Single" is one thread in one process for both. "All cores" is our engine's own threads
in one process, and joblib worker processes over chunks for alt-profanity-check (which has
no threads of its own).

Example: .venv/bin/python bench/score_worker.py --engine ours --texts build/bench/texts.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Score = Callable[[Sequence[str]], Any]
_SCORER: dict[str, Score] = {}


def _load(engine: str, model: str | None) -> Score:
    if engine == "peer":
        from profanity_check import predict_prob

        return predict_prob  # type: ignore[no-any-return,unused-ignore]
    from moderate.model.artifacts import current, load

    path = Path(model) if model else current(Path("model/artifacts"))
    loaded = load(path, n_threads=None if engine == "ours-all" else 1)
    # The model alone, like predict_prob: probabilities as arrays. "ours-score" is the
    # library's list-in, list-out Model.score (decisions and an object per comment).
    return loaded.score if engine == "ours-score" else loaded.probabilities  # type: ignore[no-any-return,unused-ignore]


def _scorer(engine: str, model: str | None) -> Score:
    """One loaded model per process: joblib workers load it once and reuse it."""
    if engine not in _SCORER:
        _SCORER[engine] = _load(engine, model)
    return _SCORER[engine]


def _score_chunk(engine: str, model: str | None, texts: list[str]) -> int:
    return len(_scorer(engine, model)(texts))


def _chunks(texts: list[str], parts: int) -> list[list[str]]:
    size = -(-len(texts) // parts)
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def _time_parallel(engine: str, model: str | None, texts: list[str], jobs: int) -> float:
    from joblib import Parallel, delayed

    start = time.perf_counter()
    done = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_score_chunk)(engine, model, chunk) for chunk in _chunks(texts, jobs * 4)
    )
    elapsed = time.perf_counter() - start
    if sum(done) != len(texts):
        raise RuntimeError(f"scored {sum(done)} of {len(texts)} texts")
    return elapsed


def main(argv: Sequence[str] | None = None) -> None:
    """Load the engine, score the texts `repeats` times single-process and on all cores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["ours", "peer"], required=True)
    parser.add_argument("--texts", type=Path, required=True, help="JSON Lines, one string each")
    parser.add_argument("--model", help="artifact dir of our model (default: current)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="cProfile one single pass")
    parser.add_argument("--dump", type=Path, help="only write each text's probability here")
    args = parser.parse_args(argv)
    texts = [json.loads(line) for line in args.texts.read_text("utf-8").splitlines()]
    if args.dump:
        _dump(_scorer(args.engine, args.model), texts, args.dump)
        return

    start = time.perf_counter()
    score = _scorer(args.engine, args.model)
    load_s = time.perf_counter() - start
    score(texts[:100])  # warm-up: lazy imports, first-call allocations
    single, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        score(texts)
        single.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    rss_single = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    api: list[float] = []
    if args.engine == "ours":
        scored = _scorer("ours-score", args.model)
        scored(texts[:100])
        for _ in range(args.repeats):
            start = time.perf_counter()
            scored(texts)
            api.append(time.perf_counter() - start)
        every = _scorer("ours-all", args.model)
        every(texts[:100])
        parallel = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            every(texts)
            parallel.append(time.perf_counter() - start)
    else:
        _time_parallel(args.engine, args.model, texts, args.jobs)  # warm the worker pool
        parallel = [
            _time_parallel(args.engine, args.model, texts, args.jobs) for _ in range(args.repeats)
        ]
    result = {
        "engine": args.engine,
        "python": sys.executable,
        "texts": len(texts),
        "load_s": load_s,
        "single_s": single,
        "parallel_s": parallel,
        "jobs": args.jobs,
        "single_median_per_s": len(texts) / statistics.median(single),
        "single_cpu_s": cpu,
        "cpu_median_per_s": len(texts) / statistics.median(cpu),
        "parallel_median_per_s": len(texts) / statistics.median(parallel),
        "peak_rss_mb": rss_single / 1024,
        "api_s": api,
    }
    if args.profile:
        result["profile"] = _profile(score, texts)
    print(json.dumps(result))


def _dump(score: Score, texts: list[str], out: Path) -> None:
    """The toxic probability of every text, one per line (for the quality comparison)."""
    scored = score(texts)
    values = scored["toxic"] if isinstance(scored, dict) else scored
    values = [float(v) for v in values]
    out.write_text("".join(f"{v}\n" for v in values), "utf-8")


def _profile(score: Score, texts: list[str]) -> str:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(score, texts)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


if __name__ == "__main__":
    main()
