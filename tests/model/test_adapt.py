"""Adapting a trained model to a team's labels (model/adapt.py), and calibration that can
never turn a model's ranking around."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.model.adapt import adapt, offsets
from moderate.model.artifacts import ArtifactError, load, publish, save, trained_on
from moderate.model.metrics import ranking_problem
from moderate.model.pipeline import ModelConfig, PlattCalibrator
from moderate.model.predict import Model
from moderate.model.train import TrainingError, train

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
FAST = ModelConfig(grid_C=(1.0,), grid_min_df=(1,), adapt_grid_C=(0.5, 4.0), folds=3)
# A word the reference has never seen, which this team's readers use as an insult.
SLUR = "grobnik"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained from scratch on the hand-written fixture, saved."""
    dataset = pd.read_json(FIXTURE, lines=True, dtype={"id": str})
    folder = tmp_path_factory.mktemp("reference")
    return save(train(dataset, FAST), folder)


def team_labels(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A team's comment section: a third of its insults use a word of its own."""
    rng = np.random.default_rng(seed)
    topics = ["the budget", "the new bridge", "the council vote", "the match", "rail fares",
              "the school plan", "the election", "the harbour", "the museum"]  # fmt: skip
    civil = ["I think {t} is a sensible idea.", "Thanks for the report on {t}.",
             "Has anyone read the full text about {t}?", "We discussed {t} at work today.",
             "Good point about {t}, I had not thought of that."]  # fmt: skip
    rude = ["You {s}, nobody cares what you think about {t}.", "Only a {s} writes that about {t}.",
            "What a {s} take on {t}.", "Typical {s} comment on {t}."]  # fmt: skip
    rows = []
    for i in range(n):
        topic = topics[int(rng.integers(len(topics)))]
        toxic = i % 3 == 0
        template = rude[i % len(rude)] if toxic else civil[i % len(civil)]
        text = template.format(t=topic, s=SLUR)
        rows.append({"id": f"team{i:04d}", "source": "team_site", "text": text, "toxic": toxic})
    return pd.DataFrame(rows).assign(toxic=lambda f: f["toxic"].astype(float), conspiracy=np.nan)


@pytest.fixture(scope="module")
def adapted(reference: Path) -> tuple[Model, Model, dict]:
    trained = adapt(team_labels(), load(reference), FAST)
    return load(reference), Model.from_trained(trained), trained.metadata


def test_a_few_hundred_team_labels_visibly_move_the_reference(adapted: tuple) -> None:
    before, after, metadata = adapted
    texts = [f"The {SLUR} is here.", SLUR, f"A {SLUR} wrote this about the harbour."]
    old, new = before.probabilities(texts)["toxic"], after.probabilities(texts)["toxic"]
    assert np.all(new > old + 0.3), (old, new)
    civil = after.probabilities(["I met a friend at the museum."])["toxic"]
    assert civil[0] < 0.1
    entry = metadata["adaptation"]["toxic"]
    assert entry["chosen"] != "reference"
    cv = entry["team_cv"]
    assert cv["adapted"]["roc_auc"] >= cv["reference"]["roc_auc"]
    assert cv["adapted"]["pr_auc"] > cv["reference"]["pr_auc"]


def test_the_adapted_model_is_one_linear_model_in_the_reference_space(adapted: tuple) -> None:
    before, after, _ = adapted
    assert after.spec == before.spec
    assert np.array_equal(after.params[:, 0], before.params[:, 0])  # the same IDF
    # The team's labels say nothing about conspiracy: that label stays the reference's.
    texts = ["the vaccine is a plot", "nice weather", f"you {SLUR}"]
    assert np.allclose(
        after.probabilities(texts)["conspiracy"], before.probabilities(texts)["conspiracy"]
    )
    assert after.thresholds["conspiracy"] == before.thresholds["conspiracy"]


def test_an_adapted_artifact_saves_loads_and_keeps_its_pipelines(
    adapted: tuple, reference: Path, tmp_path: Path
) -> None:
    from moderate.model.artifacts import load_pipelines

    trained = adapt(team_labels(), load(reference), FAST)
    path = save(trained, tmp_path / "artifacts")
    loaded = load(path)
    texts = [f"what a {SLUR}", "thank you for the article"]
    pipelines = load_pipelines(path)
    for label in ("toxic", "conspiracy"):
        expected = pipelines[label].predict_proba(texts)[:, 1]
        assert np.allclose(loaded.probabilities(texts)[label], expected, atol=1e-6)
    assert loaded.metadata["method"] == "adapted"
    assert loaded.metadata["adapted_from"]["version"] == load(reference).version


def test_rows_the_reference_trained_on_get_its_out_of_fold_log_odds(
    reference: Path, tmp_path: Path
) -> None:
    model = load(reference)
    texts, ids = ["you idiot", "nice day"], np.array(["a", "b"])
    stored = {"ids": np.array(["b"]), "logodds.toxic": np.array([7.5]),
              "logodds.conspiracy": np.array([np.nan])}  # fmt: skip
    out = offsets(model, texts, ids, stored)
    fresh = model.log_odds(texts)
    assert out[1, 0] == 7.5 and out[0, 0] == fresh[0, 0]
    assert out[1, 1] == fresh[1, 1]  # unknown there: the in-sample log-odds stay
    published = publish(reference, tmp_path / "shipped", stored)
    back = trained_on(published)
    assert list(back["ids"]) == ["b"] and back["logodds.toxic"][0] == 7.5
    assert not (published / "pipeline.joblib").exists()
    assert load(published).version == model.version


def test_a_published_model_is_rewritten_byte_for_byte(reference: Path, tmp_path: Path) -> None:
    one = publish(reference, tmp_path / "one")
    two = publish(reference, tmp_path / "two")
    for name in ("model.json", "weights.npz", "SHA256SUMS"):
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_a_label_the_reference_lacks_is_skipped_with_the_reason(reference: Path) -> None:
    with pytest.raises(TrainingError, match="no label can be adapted"):
        adapt(team_labels(), load(reference), replace(FAST, labels=("spam",)))


def adversarial(n: int = 24) -> pd.DataFrame:
    """Each text twice, once labelled 1 and once 0: held out, a row's twin in training
    carries the opposite label, so an overfit model ranks its held-out rows backwards."""
    rows = []
    for i in range(n):
        for value in (1.0, 0.0):
            text = f"token{i} marker{i} word{i}"
            rows.append({"id": f"r{i}-{int(value)}", "source": "s", "text": text, "toxic": value})
    return pd.DataFrame(rows).assign(conspiracy=np.nan)


def test_a_model_that_ranks_its_own_rows_worse_than_chance_is_refused() -> None:
    config = replace(FAST, labels=("toxic",))
    with pytest.raises(TrainingError, match="no better than chance"):
        train(adversarial(), config)


def test_the_refusal_names_the_label_and_its_auc() -> None:
    y = np.array([1.0, 1.0, 0.0, 0.0])
    assert ranking_problem(y, np.array([0.9, 0.8, 0.1, 0.2])) is None
    problem = ranking_problem(y, np.array([0.1, 0.2, 0.9, 0.8]))
    assert problem is not None and "0.00" in problem and "chance" in problem


def test_platt_calibration_never_decreases() -> None:
    # Decisions that fall as the label rises: the best increasing map is flat.
    decision = np.array([3.0, 2.0, 1.0, -1.0, -2.0, -3.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    calibrator = PlattCalibrator().fit(decision, y, None)
    assert calibrator.model.coef_[0, 0] == 0.0
    p = calibrator.predict(np.linspace(-5, 5, 11))
    assert np.allclose(p, p[0]) and 0.4 < p[0] < 0.6


def test_an_artifact_with_a_decreasing_calibration_is_refused(
    reference: Path, tmp_path: Path
) -> None:
    shipped = publish(reference, tmp_path / "shipped")
    description = json.loads((shipped / "model.json").read_text())
    description["calibration"]["toxic"] = {"kind": "sigmoid", "a": -1.5, "b": 0.0}
    (shipped / "model.json").write_text(json.dumps(description))
    from moderate.model.artifacts import HASH_FILE, sha256_of

    sums = (shipped / HASH_FILE).read_text().splitlines()
    fixed = [
        f"{sha256_of(shipped / 'model.json')}  model.json" if line.endswith("model.json") else line
        for line in sums
    ]
    (shipped / HASH_FILE).write_text("\n".join(fixed) + "\n")
    with pytest.raises(ArtifactError, match="decreases"):
        load(shipped)
