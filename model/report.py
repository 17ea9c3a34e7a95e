"""Write an evaluation report: report.json, REPORT.md, MODEL_CARD.md and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from moderate.model.engine import SCHEME

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from moderate.model.evaluate import Report

COLOURS = {"model": "tab:blue", "baseline": "tab:gray"}
# Bias AUCs under this are called out in the model card as a known limit.
BIAS_FLOOR = 0.8
# Fewer labelled comments than this make every metric of a label too uncertain to trust.
SMALL = 1000


def write_report(report: Report, directory: Path) -> list[Path]:
    """Write the report files into `directory` (created if needed); return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        _write(directory / "report.json", json.dumps(report.to_dict(), indent=2, default=_json)),
        _write(directory / "REPORT.md", render_markdown(report)),
        _write(directory / "MODEL_CARD.md", render_model_card(report)),
    ]
    for name, plot in (
        ("pr_curves.png", _plot_pr),
        ("reliability.png", _plot_reliability),
        ("per_source.png", _plot_sources),
    ):
        path = directory / name
        if plot(report, path):
            written.append(path)
    return written


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + ("" if text.endswith("\n") else "\n"), "utf-8")
    tmp.replace(path)
    return path


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _cv_section(report: Report) -> list[str]:
    lines = ["## Cross-validated (out-of-fold) metrics", ""]
    systems = list(report.metrics)
    for label, m in report.metrics["model"].items():
        lines += [f"### {label} ({m['n']} comments, {m['positives']} positive)", ""]
        header = ["metric", *systems]
        rows: list[list[Any]] = []
        for key in ("roc_auc", "pr_auc", "ece"):
            rows.append([key, *[report.metrics[s].get(label, {}).get(key) for s in systems]])
        for point in ("review", "block"):
            for key in ("threshold", "precision", "recall", "f1", "mcc"):
                row = [report.metrics[s].get(label, {}).get(point, {}).get(key) for s in systems]
                rows.append([f"{point} {key}", *row])
        lines += _table(header, rows)
    return lines


def _source_section(report: Report, domains: bool = False) -> list[str]:
    groups = report.by_domain if domains else report.by_source
    if not any(groups.get("model", {}).values()):
        return []
    kind = "domain" if domains else "source"
    lines = [
        f"## Leave-one-{kind}-out",
        "",
        f"Each {kind} is held out in turn; the model is trained on all the others"
        + (" (every source of the domain is held out at once). " if domains else ". ")
        + "`flagged` is the share of the held-out comments at or above the review threshold "
        "(its recall when the source has only positives, its false-alarm rate when only "
        "negatives). `gain` is the model's ROC-AUC minus the baseline's"
        + (
            "."
            if domains
            else "; `cross-validated` is the model's out-of-fold ROC-AUC on the same "
            "source when it is part of the training data."
        ),
        "",
    ]
    for label, results in groups["model"].items():
        base = {r["source"]: r for r in groups.get("baseline", {}).get(label, [])}
        header = [kind, "n", "positives", "ROC-AUC", "baseline", "gain", "PR-AUC", "baseline"]
        header += ["flagged", "baseline"] + ([] if domains else ["cross-validated"])
        rows = []
        for r in results:
            b = base.get(r["source"], {})
            gain = None
            if r["roc_auc"] is not None and b.get("roc_auc") is not None:
                gain = r["roc_auc"] - b["roc_auc"]
            rows.append(
                [
                    *(r["source"], r["n"], r["positives"], r["roc_auc"], b.get("roc_auc"), gain),
                    *(r["pr_auc"], b.get("pr_auc"), r["flagged"], b.get("flagged")),
                    *([] if domains else [r.get("cv_roc_auc")]),
                ]
            )
        aucs = [(r[3], r[4]) for r in rows if r[3] is not None and r[4] is not None]
        if aucs:
            mean = [float(np.mean([a for a, _ in aucs])), float(np.mean([b for _, b in aucs]))]
            rows.append(["mean", "", "", *mean, mean[0] - mean[1]] + [None] * (len(header) - 6))
        lines += [f"### {label}", "", *_table(header, rows)]
    return lines


def _held_out_section(report: Report) -> list[str]:
    if not report.held_out:
        return []
    lines = [
        "## Held-out sets",
        "",
        "Labelled comments the model was never trained on, scored by the trained model. "
        "`review or block` is the share at or above the review threshold.",
        "",
    ]
    rows = [
        [
            name,
            label,
            m["n"],
            m["positives"],
            m.get("roc_auc"),
            m.get("review_or_block"),
            m.get("block"),
        ]
        for name, per_label in report.held_out.items()
        for label, m in per_label.items()
    ]
    header = ["set", "label", "n", "positives", "ROC-AUC", "review or block", "block"]
    return lines + _table(header, rows)


def _behaviour_section(report: Report) -> list[str]:
    if not report.behaviour:
        return []
    lines = [
        "## Behavioural tests",
        "",
        "Team-written cases (model/data/behaviour.jsonl); a case passes when the calibrated "
        "probability is on the expected side of 0.5.",
        "",
    ]
    counts: dict[str, int] = {}
    if report.behaviour_cases is not None:
        counts = {
            str(k): int(v) for k, v in report.behaviour_cases["capability"].value_counts().items()
        }
    rows = [[c, counts.get(c, ""), rate] for c, rate in report.behaviour.items()]
    lines += _table(["capability", "cases", "pass rate"], rows)
    topics = report.behaviour_topics()
    if topics:
        names = sorted({t for per in topics.values() for t in per})
        by_topic: list[list[Any]] = [[c, *[per.get(t) for t in names]] for c, per in topics.items()]
        lines += ["Pass rate by topic:", "", *_table(["capability", *names], by_topic)]
    if report.behaviour_cases is not None:
        failed = report.behaviour_cases[~report.behaviour_cases["passed"]]
        if len(failed):
            lines += ["Failed cases:", ""]
            for r in failed.itertuples():
                text = str(r.text) if len(str(r.text)) <= 90 else str(r.text)[:87] + "..."
                lines.append(
                    f"- {r.capability}: p({r.label})={r.p:.2f}, expected {r.expected}: {text}"
                )
            lines.append("")
    return lines


def _bias_section(report: Report) -> list[str]:
    if report.bias is None or report.bias.empty:
        return []
    lines = [
        "## Bias audit (toxic)",
        "",
        "Identity-term templates (model/data/identity_templates.jsonl x identity_terms.txt); "
        "AUCs as defined for the Jigsaw unintended-bias benchmark. A low BPSN AUC means "
        "benign comments mentioning the identity score like toxic ones elsewhere.",
        "",
    ]
    cols = ["identity", "n", "subgroup_auc", "bpsn_auc", "bnsp_auc", "mean_p_benign"]
    rows = report.bias[cols].to_numpy().tolist()
    return lines + _table(cols, rows)


def render_markdown(report: Report) -> str:
    """The human-readable report."""
    meta = report.meta
    lines = [
        "# Evaluation report",
        "",
        f"- rows: {meta.get('rows')}; labelled: {meta.get('labelled')}",
        f"- model: {meta.get('model')}",
        f"- baseline: {meta.get('baseline')}",
        f"- {meta.get('folds')}-fold stratified cross-validation, seed {meta.get('seed')}",
    ]
    for key, value in meta.items():
        if key not in {"rows", "labelled", "model", "baseline", "folds", "seed", "sources"}:
            lines.append(f"- {key}: {value}")
    lines += [
        "",
        "Thresholds are picked on the same out-of-fold probabilities they are scored on "
        "(as the artifact does), so F1/MCC at them are slightly optimistic; AUCs are not.",
        "",
    ]
    lines += _cv_section(report) + _source_section(report) + _source_section(report, True)
    lines += _held_out_section(report)
    lines += _behaviour_section(report) + _bias_section(report)
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    lines += ["Plots: pr_curves.png, reliability.png, per_source.png.", ""]
    return "\n".join(lines)


def render_model_card(
    report: Report,
    metadata: dict[str, Any] | None = None,
    licences: dict[str, dict[str, str]] | None = None,
) -> str:
    """MODEL_CARD.md: data, intended use, headline metrics and known limits.

    With the artifact's `metadata` (the shipped reference model), the card opens with its
    summary and version, and ends with how adapting it to the team's labels compares;
    with `licences`, the data section lists every source with its licence and row count.
    """
    meta = report.meta
    metadata = metadata or {}
    sources = ", ".join(f"{k} ({v})" for k, v in meta.get("sources", {}).items())
    lines = ["# Model card: moderate", ""]
    if metadata.get("summary"):
        lines += [f"{metadata.get('version', '')}: {metadata['summary']}.", ""]
    lines += [
        "## Model",
        "",
        f"{meta.get('model')}. One linear classifier per label with calibrated "
        "probabilities; thresholds map a probability to allow / review / block.",
        "",
        "Features: the text normalised (Unicode folding, obfuscations, URL and @mention "
        "placeholders), then word 1–2-grams and character 2–5-grams within words, hashed "
        "into 2^20 columns each, sublinear TF-IDF, each block L2-normalised. The scoring "
        "engine (model/engine.py, one compiled pass for every label) computes them from "
        "the portable artifact: model.json and weights.npz (format 2, hashing scheme "
        f"{SCHEME}), plain arrays checked by sha256 and loaded without unpickling.",
        "",
        "## Data",
        "",
        f"{meta.get('rows')} comments; labelled per label: {meta.get('labelled')}.",
        *(_licence_table(meta, licences) if licences else [f"Sources: {sources}."]),
        "Each corpus labels one axis; the other label is unknown for its comments, not 0.",
        "",
        "## Intended use",
        "",
        "Human-assisted moderation of English comments: the model ranks and pre-sorts "
        "comments so that people review the risky ones first. `block` is meant for "
        "high-precision cases, `review` sends a comment to a person. It is not meant to "
        "decide alone about people, accounts or bans, nor for other languages.",
        "",
        "## Headline metrics (out-of-fold)",
        "",
    ]
    rows = []
    for label, m in report.metrics["model"].items():
        b = report.metrics.get("baseline", {}).get(label, {})
        rows.append([label, m["roc_auc"], b.get("roc_auc"), m["pr_auc"], b.get("pr_auc"), m["ece"]])
    header = ["label", "ROC-AUC", "baseline", "PR-AUC", "baseline", "ECE"]
    lines += _table(header, rows)
    lines += _loso_lines(report)
    lines += ["## Known limits", "", *[f"- {x}" for x in _limits(report)], ""]
    check = metadata.get("adaptation_check")
    if check:
        lines += adaptation_lines(check)
    return "\n".join(lines)


def _licence_table(meta: dict[str, Any], licences: dict[str, dict[str, str]]) -> list[str]:
    rows = [
        [source, count, licences.get(source, {}).get("dataset", "?"),
         licences.get(source, {}).get("licence", "not recorded")]
        for source, count in sorted(meta.get("sources", {}).items())
    ]  # fmt: skip
    return [
        "Every source the model was trained on, with its licence (labels/sources.py gives "
        "where each licence is stated):",
        "",
        *_table(["source", "rows", "dataset", "licence"], rows),
    ]


def _loso_lines(report: Report) -> list[str]:
    rows = []
    for label, entries in report.by_source.get("model", {}).items():
        base = {e["source"]: e for e in report.by_source.get("baseline", {}).get(label, [])}
        for e in entries:
            if e.get("roc_auc") is not None:
                baseline = base.get(e["source"], {}).get("roc_auc")
                rows.append(
                    [label, e["source"], e["n"], e["roc_auc"], baseline, e.get("cv_roc_auc")]
                )
    if not rows:
        return []
    return [
        "## Leave-one-source-out (what a new comment section looks like)",
        "",
        *_table(["label", "held-out source", "n", "ROC-AUC", "baseline", "cross-validated"], rows),
    ]


def adaptation_lines(check: dict[str, Any]) -> list[str]:
    """The card's section on adapting the reference to the team's labels."""
    lines = [
        "## Adapting it to the team's labels (`make train`)",
        "",
        "`make train` adapts this model to labels/data (model/adapt.py). On the labels it was "
        "built with, cross-validated (the reference's scores of rows it trained on are its "
        "out-of-fold ones):",
        "",
    ]
    rows = [
        [label, cv["reference"]["roc_auc"], cv["adapted"]["roc_auc"],
         cv["reference"]["pr_auc"], cv["adapted"]["pr_auc"]]
        for label, cv in check.get("team", {}).items()
        if cv
    ]  # fmt: skip
    header = ["label", "ROC-AUC reference", "ROC-AUC adapted", "PR-AUC reference",
              "PR-AUC adapted"]  # fmt: skip
    lines += _table(header, rows)
    public = check.get("public")
    if public:
        lines += ["On the public sources:", "", public["note"], "", *_public_table(public)]
    return lines


def _limits(report: Report) -> list[str]:
    meta = report.meta
    limits = [
        "English only. Sources differ in domain and labelling policy (see Data); a new "
        "site's comments look like the leave-one-source-out figures, not the cross-validated "
        "ones.",
        "Bag-of-n-grams: no understanding of negation, quotation or sarcasm beyond word "
        "pairs; context (the parent comment, the thread) is not used.",
    ]
    for label, rows in meta.get("labelled", {}).items():
        if rows < SMALL:
            limits.append(f"{label}: only {rows} labelled comments; every figure is uncertain.")
    if "conspiracy" in report.metrics.get("model", {}):
        limits.append(
            "conspiracy: the labelled corpora are few and topic-bound (e.g. 5G, COVID "
            "vaccines); expect weak transfer to new conspiracy topics."
        )
    weak = [c for c, r in report.behaviour.items() if r < 0.7]
    if weak:
        shown = ", ".join(f"{c} ({report.behaviour[c]:.0%})" for c in weak)
        limits.append(f"Behavioural capabilities below 70 % pass rate: {shown}.")
    if report.bias is not None and not report.bias.empty:
        low = report.bias[report.bias["bpsn_auc"] < BIAS_FLOOR]["identity"].tolist()
        if low:
            limits.append(
                f"Benign mentions of these identities score high (BPSN AUC < {BIAS_FLOOR}): "
                + ", ".join(low)
                + "."
            )
    limits += [n for n in report.notes if "single class" in n or "fewer than" in n]
    return limits


def _labels(report: Report) -> list[str]:
    return list(report.metrics["model"])


def _pairs(report: Report, label: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for system, frame in report.oof.items():
        if label in frame:
            known = frame[label].notna().to_numpy()
            y = report.truth[label].reindex(frame.index).to_numpy()[known].astype(int)
            out.append((system, y, frame[label].to_numpy()[known]))
    return out


def _axes(count: int, height: float = 4.0) -> tuple[Any, list[Axes]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(5.5 * count, height), squeeze=False)
    return fig, list(axes[0])


def _save(fig: Any, path: Path, bottom: float = 0.0) -> bool:
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plot_pr(report: Report, path: Path) -> bool:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    labels = _labels(report)
    if not labels:
        return False
    fig, axes = _axes(len(labels))
    for ax, label in zip(axes, labels, strict=True):
        for system, y, p in _pairs(report, label):
            precision, recall, _ = precision_recall_curve(y, p)
            ap = average_precision_score(y, p)
            ax.plot(recall, precision, color=COLOURS.get(system), label=f"{system} (AP {ap:.3f})")
        for point, marker in (("review", "o"), ("block", "s")):
            at = report.metrics["model"][label][point]
            ax.plot(at["recall"], at["precision"], marker, color="black", label=point)
        ax.set(title=f"{label}: precision-recall", xlabel="recall", ylabel="precision")
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(loc="lower left")
    return _save(fig, path)


def _plot_reliability(report: Report, path: Path) -> bool:
    labels = _labels(report)
    if not labels:
        return False
    fig, axes = _axes(len(labels))
    edges = np.linspace(0, 1, 11)
    for ax, label in zip(axes, labels, strict=True):
        ax.plot([0, 1], [0, 1], ":", color="black", label="perfect")
        for system, y, p in _pairs(report, label):
            which = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
            frame = pd.DataFrame({"bin": which, "y": y, "p": p}).groupby("bin").mean()
            ece = report.metrics[system][label]["ece"]
            ax.plot(
                frame["p"],
                frame["y"],
                "o-",
                color=COLOURS.get(system),
                label=f"{system} (ECE {ece:.3f})",
            )
        ax.set(title=f"{label}: reliability", xlabel="mean predicted probability")
        ax.set(ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left")
    return _save(fig, path)


def _plot_sources(report: Report, path: Path) -> bool:
    labels = [lab for lab, rows in report.by_source.get("model", {}).items() if rows]
    if not labels:
        return False
    longest = max(len(report.by_source["model"][lab]) for lab in labels)
    fig, axes = _axes(len(labels), height=1.2 + 0.5 * longest)
    for ax, label in zip(axes, labels, strict=True):
        systems = [s for s in report.by_source if report.by_source[s].get(label)]
        names = [r["source"] for r in report.by_source["model"][label]]
        ypos = np.arange(len(names))
        height = 0.8 / len(systems)
        for i, system in enumerate(systems):
            rows = {r["source"]: r for r in report.by_source[system][label]}
            values, hatches = [], []
            for name in names:
                r = rows.get(name, {})
                auc = r.get("roc_auc")
                values.append(auc if auc is not None else r.get("flagged", 0.0))
                hatches.append("" if auc is not None else "//")
            bars = ax.barh(
                ypos + i * height, values, height, color=COLOURS.get(system), label=system
            )
            for bar, hatch in zip(bars, hatches, strict=True):
                bar.set_hatch(hatch)
        ax.set_yticks(ypos + height * (len(systems) - 1) / 2, names)
        ax.invert_yaxis()
        ax.set(xlim=(0, 1), title=f"{label}: held-out source")
        ax.set(xlabel="ROC-AUC (hatched: share flagged, single-class source)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names))
    return _save(fig, path, bottom=0.4 / fig.get_figheight())


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def render_adaptation(metadata: dict[str, Any], behaviour: dict[str, dict[str, float]]) -> str:
    """REPORT.md of a model adapted from the reference (model/adapt.py)."""
    source = metadata.get("adapted_from", {})
    lines = [
        "# Adaptation report",
        "",
        f"- adapted from: {source.get('version')} ({source.get('summary') or 'no summary'})",
        f"- team labels: {metadata.get('rows')} comments; {metadata.get('label_counts')}",
        f"- sources: {metadata.get('sources')}",
        f"- {metadata.get('selection', {}).get('why', '')}",
        "",
        "Each label's correction to the reference was chosen by cross-validated PR-AUC on the "
        "team's labels; the comparison below uses other folds (another shuffling seed), so "
        "the choice does not flatter it. The reference's scores of rows it trained on "
        "are its out-of-fold ones.",
        "",
        "## The team's labels, cross-validated",
        "",
    ]
    rows: list[list[Any]] = []
    for label, entry in metadata.get("adaptation", {}).items():
        if "team_cv" not in entry:
            rows.append([label, "all", "", "", "", "", "", entry.get("chosen")])
            continue
        cv = entry["team_cv"]
        ref, new = cv["reference"], cv["adapted"]
        n = metadata["label_counts"].get(label, {})
        rows.append([label, "all", n.get("rows"), n.get("positive"), ref["roc_auc"],
                     new["roc_auc"], ref["pr_auc"], new["pr_auc"]])  # fmt: skip
        for s in cv["by_source"]:
            rows.append([label, s["source"], s["n"], s["positives"], s["reference"]["roc_auc"],
                         s["adapted"]["roc_auc"], s["reference"]["pr_auc"],
                         s["adapted"]["pr_auc"]])  # fmt: skip
    header = ["label", "source", "n", "positives", "ROC-AUC reference", "ROC-AUC adapted",
              "PR-AUC reference", "PR-AUC adapted"]  # fmt: skip
    lines += _table(header, rows)
    lines += ["## Candidates (cross-validated PR-AUC / ROC-AUC)", ""]
    for label, entry in metadata.get("adaptation", {}).items():
        for name, scores in entry.get("search", {}).items():
            mark = " (chosen)" if name == entry["chosen"] else ""
            lines.append(
                f"- {label} {name}{mark}: {scores['pr_auc']:.3f} / {scores['roc_auc']:.3f}"
            )
        if "offset_weight" in entry:
            weight = entry["offset_weight"]
            lines.append(f"- {label}: weight of the reference's log-odds {weight:.2f}")
    public = metadata.get("public_check")
    lines += ["", "## The public sources", ""]
    if public:
        lines += [public["note"], "", *_public_table(public)]
    else:
        lines += [
            "Not measured here: that needs the public corpora. `make reference-model` measures "
            "it for the labels in labels/data when it builds the reference (its MODEL_CARD).",
            "",
        ]
    if behaviour:
        lines += ["## Behavioural tests (pass rate)", ""]
        names = list(behaviour)
        capabilities = sorted({c for rates in behaviour.values() for c in rates})
        lines += _table(
            ["capability", *names],
            [[c, *[behaviour[n].get(c) for n in names]] for c in capabilities],
        )
    if metadata.get("warnings"):
        lines += ["## Warnings", "", *[f"- {w}" for w in metadata["warnings"]], ""]
    return "\n".join(lines)


def _public_table(public: dict[str, Any]) -> list[str]:
    rows = [
        [e["label"], e["source"], e["n"], e["reference"], e["adapted"],
         _pct(None if e["reference"] is None else e["adapted"] - e["reference"])]
        for e in public["by_source"]
    ]  # fmt: skip
    for label, mean in public.get("mean", {}).items():
        rows.append([label, "mean", "", mean["reference"], mean["adapted"],
                     _pct(mean["adapted"] - mean["reference"])])  # fmt: skip
    return _table(["label", "held-out source", "n", "reference", "adapted", "change"], rows)


def write_adaptation_report(
    metadata: dict[str, Any], behaviour: dict[str, dict[str, float]], directory: Path
) -> list[Path]:
    """REPORT.md and report.json of an adapted model."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "adaptation": metadata.get("adaptation"),
        "public_check": metadata.get("public_check"),
        "behaviour": behaviour,
    }
    source = metadata.get("adapted_from", {})
    card = [
        "# Model card: moderate (adapted)",
        "",
        f"{metadata.get('summary', '')}.",
        "",
        f"The reference model {source.get('version')} ({source.get('summary') or 'no summary'}) "
        "adapted to this team's labels by model/adapt.py: its log-odds are an offset of a new "
        "linear model on its features, so it keeps what the public corpora taught. Its data, "
        "licences and known limits are those of the reference's card "
        "(model/reference/MODEL_CARD.md) plus the team's labels; how it compares is in "
        "REPORT.md.",
        "",
    ]
    return [
        _write(directory / "report.json", json.dumps(summary, indent=2, default=_json)),
        _write(directory / "REPORT.md", render_adaptation(metadata, behaviour)),
        _write(directory / "MODEL_CARD.md", "\n".join(card)),
    ]
