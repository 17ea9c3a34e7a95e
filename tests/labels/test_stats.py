"""Stats, agreement and export of the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from moderate.labels.stats import agreement, answer_counts, class_balance, export_dataset
from moderate.labels.store import Annotation, LabelError, LabelStore

T = "2026-01-01T00:00:00Z"


def build(root: Path) -> LabelStore:
    """Six comments answered by ana, ben and cy, plus one imported label."""
    store = LabelStore(root)
    store.add_comments({"id": f"c{i}", "text": f"comment {i}", "source": "s"} for i in range(7))
    answers: dict[str, list[int | str]] = {
        "ana": [1, 1, 0, 0, 1, 0],
        "ben": [1, 0, 0, 0, 1, 0],
        "cy": [1, 1, 0, 1, 1, "unsure"],
    }
    store.annotate(
        Annotation(f"c{i}", "toxic", v, who, T)
        for who, values in answers.items()
        for i, v in enumerate(values)
    )
    store.annotate([Annotation("c0", "conspiracy", 1, "ana", T)])
    store.annotate([Annotation("c6", "conspiracy", 0, "import:x", T, "import:x")])
    return store


def test_answer_counts_per_label_origin_and_annotator(tmp_path: Path) -> None:
    build(tmp_path)
    frame = answer_counts(tmp_path).set_index(["label", "annotator"])
    assert list(frame.loc[("toxic", "cy"), ["answers", "pos", "neg", "unsure"]]) == [6, 4, 1, 1]
    assert frame.loc[("toxic", "cy"), "pos_rate"] == 0.8
    assert frame.loc[("conspiracy", "import:x"), "origin"] == "import:x"


def test_class_balance_counts_unknown_separately(tmp_path: Path) -> None:
    build(tmp_path)
    balance = class_balance(tmp_path).set_index("label")
    # toxic by majority of three: c0 1, c1 1, c2 0, c3 0, c4 1, c5 0 (unsure not counted)
    counts = ["known", "pos", "neg", "unknown"]
    assert list(balance.loc["toxic", counts]) == [6, 3, 3, 1]
    assert list(balance.loc["conspiracy", counts]) == [2, 1, 1, 5]
    humans = class_balance(tmp_path, ("human",)).set_index("label")
    assert humans.loc["conspiracy", "known"] == 1


def test_cohen_kappa_for_two_annotators_on_their_overlap(tmp_path: Path) -> None:
    build(tmp_path)
    toxic = agreement(tmp_path, ["ana", "ben"]).set_index("label").loc["toxic"]
    assert toxic["metric"] == "cohen_kappa" and toxic["items"] == 6
    assert toxic["agreement"] == pytest.approx(0.6667, abs=1e-4)
    assert toxic["observed"] == pytest.approx(5 / 6, abs=1e-4)
    unsure_dropped = agreement(tmp_path, ["ana", "cy"]).set_index("label").loc["toxic"]
    assert unsure_dropped["items"] == 5


def test_krippendorff_alpha_for_three_annotators(tmp_path: Path) -> None:
    build(tmp_path)
    frame = agreement(tmp_path).set_index("label")
    toxic, conspiracy = frame.loc["toxic"], frame.loc["conspiracy"]
    assert toxic["metric"] == "krippendorff_alpha" and toxic["annotators"] == "ana, ben, cy"
    assert 0.4 < toxic["agreement"] < 0.8
    assert conspiracy["items"] == 0 and pd.isna(conspiracy["agreement"])


def test_perfect_agreement_is_one(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.annotate(
        Annotation(f"c{i}", "toxic", i % 2, who, T) for who in ("a", "b", "c") for i in range(4)
    )
    assert agreement(tmp_path, ["a", "b"])["agreement"].tolist()[0] == 1.0
    assert agreement(tmp_path)["agreement"].tolist()[0] == 1.0


def test_agreement_needs_two_annotators_who_answered(tmp_path: Path) -> None:
    build(tmp_path)
    with pytest.raises(LabelError, match="at least two annotators"):
        agreement(tmp_path, ["ana"])
    with pytest.raises(LabelError, match="no 1/0 answers from annotator\\(s\\): zed"):
        agreement(tmp_path, ["ana", "zed"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_one_row_per_comment(tmp_path: Path, fmt: str) -> None:
    build(tmp_path / "data")
    output = tmp_path / "out" / f"dataset.{fmt}"
    assert export_dataset(tmp_path / "data", output) == 7
    if fmt == "csv":
        frame = pd.read_csv(output)
    elif fmt == "jsonl":
        frame = pd.read_json(output, lines=True)
    else:
        frame = pd.read_parquet(output)
    assert list(frame.columns) == ["id", "source", "thread", "text", "toxic", "conspiracy"]
    row = frame.set_index("id").loc["c6"]
    assert row["conspiracy"] == 0.0 and pd.isna(row["toxic"])
    assert [p.name for p in output.parent.iterdir()] == [output.name]


def test_export_jsonl_keeps_unknown_as_null(tmp_path: Path) -> None:
    build(tmp_path / "data")
    output = tmp_path / "d.jsonl"
    export_dataset(tmp_path / "data", output, "jsonl", origins=("import",))
    assert json.loads(output.read_text().splitlines()[0])["toxic"] is None


def test_export_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="csv, jsonl, parquet"):
        export_dataset(tmp_path, tmp_path / "x.xlsx")
