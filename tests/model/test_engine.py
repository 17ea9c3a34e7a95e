"""The scoring engine against its references: the Python normaliser, scikit-learn's
analyzers, and the scikit-learn model fitted on the engine's own features."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from moderate.model import engine
from moderate.model.normalize import normalize, normalize_spans
from moderate.model.pipeline import ModelConfig
from moderate.model.predict import Model
from moderate.model.train import train

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
FAST = ModelConfig(grid_C=(1.0,), grid_min_df=(1,), grid_char=(True,))
TOKEN_PATTERN = r"(?u)@?\b\w\w+\b"
MASK64 = (1 << 64) - 1
OFFSET, PRIME, GOLDEN = 0xCBF29CE484222325, 0x100000001B3, 0x9E3779B97F4A7C15

TRICKY = [
    "You are an I D I O T!!",
    "f*ck this, fu¢k that, sh1t, b!tch!, a$$",
    "stuuuuupid...... !!!!!! \n\n\n\n ok",
    "𝐬𝐭𝐮𝐩𝐢𝐝 ѕtupid ＦＵＣＫ naïve café ﷺ ﬁne",
    "see https://example.com/x?y=1 and www.x.org/a or url, @alice @USER URL",
    "covid19 mp3 win10 2nd 4chan snake_case h3ll0 m0r0n 1d1ot",
    "a.b.c s-t-u-p-i-d x y z a  b  c",
    "lone surrogate \ud800 here and \udfff",
    "",
    "   ",
    "日本語のテキスト、中文、한국어, ქართული, עברית، العربية",
    "emoji 😀😀😀 family 👨‍👩‍👧 flags 🇬🇧",
]


def _comments() -> list[str]:
    return pd.read_json(FIXTURE, lines=True)["text"].astype(str).tolist() + TRICKY


def _python_normalised(texts: list[str]) -> list[tuple[str, list[int], list[int]]]:
    return [normalize_spans(text) for text in texts]


def test_normalises_exactly_as_the_python_reference() -> None:
    texts = _comments()
    assert engine.normalize_batch(texts) == _python_normalised(texts)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), max_size=8))
def test_normalises_any_unicode_as_the_reference(texts: list[str]) -> None:
    assert engine.normalize_batch(texts) == _python_normalised(texts)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="abcdeiostuxyz *.!$013@#%_|-¢\n", max_size=60), max_size=8))
def test_normalises_obfuscations_as_the_reference(texts: list[str]) -> None:
    assert engine.normalize_batch(texts) == _python_normalised(texts)


def test_a_new_script_fills_its_table_pages_and_scores_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "ქართული ტექსტი and ﷺ, then 𝐬𝐭𝐮𝐩𝐢𝐝"
    monkeypatch.setattr(engine, "_TABLES", None)  # a process that has seen only ASCII
    [(normalized, _, _)] = engine.normalize_batch([text])
    assert normalized == normalize(text)
    pages = {ord(c) >> 8 for c in text + normalized}
    assert all(engine.char_tables().done[page] for page in pages)


# -- n-grams: the same n-grams as scikit-learn's analyzers, hashed ------------------------


def _column(h: int, bits: int) -> int:
    return ((h * GOLDEN) & MASK64) >> (64 - bits)


def _fnv(text: str, h: int = OFFSET) -> int:
    for char in text:
        h = ((h ^ ord(char)) * PRIME) & MASK64
    return h


def _word_column(tokens: list[str], bits: int) -> int:
    g = OFFSET ^ len(tokens)
    for token in tokens:
        g = ((g ^ ((_fnv(token) * GOLDEN) & MASK64)) * PRIME) & MASK64
    return _column(g, bits)


def _expected_row(normalized: str, spec: engine.FeatureSpec) -> dict[int, float]:
    """scikit-learn's word and char_wb n-grams hashed as the engine documents, sublinear tf
    with IDF 1, each block L2-normalised."""
    words = CountVectorizer(lowercase=False, token_pattern=TOKEN_PATTERN).build_tokenizer()
    tokens = words(normalized)
    counts: dict[int, int] = {}
    low, high = spec.word_ngrams
    for n in range(low, high + 1):
        for i in range(len(tokens) - n + 1):
            column = _word_column(tokens[i : i + n], spec.word_bits)
            counts[column] = counts.get(column, 0) + 1
    assert spec.char_ngrams is not None
    chars = CountVectorizer(analyzer="char_wb", ngram_range=spec.char_ngrams, lowercase=False)
    for gram in chars.build_analyzer()(normalized):
        h = _fnv(gram) ^ (len(gram) << 56)
        column = spec.word_size + _column(h, spec.char_bits)
        counts[column] = counts.get(column, 0) + 1
    row = {c: 1.0 + np.log(n) for c, n in counts.items()}
    for block in (lambda c: c < spec.word_size, lambda c: c >= spec.word_size):
        norm = np.sqrt(sum(v * v for c, v in row.items() if block(c)))
        row.update({c: v / norm for c, v in row.items() if block(c)})
    return row


def test_hashes_the_n_grams_of_sklearns_analyzers() -> None:
    spec = engine.FeatureSpec(word_bits=18, char_bits=18)
    texts = _comments()
    X = engine.transform(texts, spec, np.ones(spec.n_features, np.float32))
    for i, text in enumerate(texts):
        row = X.getrow(i)
        got = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        expected = _expected_row(normalize(text), spec)
        assert got.keys() == expected.keys(), text
        assert [got[c] for c in sorted(got)] == pytest.approx(
            [expected[c] for c in sorted(got)], abs=1e-12
        )


def test_columns_with_zero_idf_are_no_features() -> None:
    spec = engine.FeatureSpec(word_bits=12, char_bits=12)
    texts = ["you pathetic idiot", "thanks for the article"]
    idf = np.ones(spec.n_features, np.float32)
    idf[spec.word_size :] = 0  # no character block at all
    X = engine.transform(texts, spec, idf)
    assert (X.indices < spec.word_size).all()
    words_only = replace(spec, char_ngrams=None)
    Y = engine.transform(texts, words_only, idf[: spec.word_size])
    assert abs(X[:, : spec.word_size] - Y).max() == 0


# -- scores: the engine equals scikit-learn on the engine's features ------------------------


def _assert_parity(model: Model, pipelines: dict, texts: list[str]) -> None:  # type: ignore[type-arg]
    ours = model.probabilities(texts)
    for label, pipeline in pipelines.items():
        theirs = pipeline.predict_proba(texts)[:, 1]
        assert np.abs(ours[label] - theirs).max() < 1e-6, label


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
def test_probabilities_equal_the_sklearn_pipelines(calibration: str) -> None:
    dataset = pd.read_json(FIXTURE, lines=True, dtype={"id": str})
    trained = train(dataset, replace(FAST, calibration=calibration))
    model = Model.from_trained(trained)
    assert {model.calibrations[label].kind for label in model.labels} == {calibration}
    _assert_parity(model, trained.pipelines, _comments())


def test_all_cores_give_the_same_scores_as_one() -> None:
    dataset = pd.read_json(FIXTURE, lines=True, dtype={"id": str})
    model = Model.from_trained(train(dataset, FAST))
    texts = _comments() * 40
    one = engine.logits(texts, model.spec, model.params, n_threads=1)
    every = engine.logits(texts, model.spec, model.params, n_threads=engine.threads())
    assert np.array_equal(one, every)


def test_huge_and_empty_texts_score() -> None:
    dataset = pd.read_json(FIXTURE, lines=True, dtype={"id": str})
    model = Model.from_trained(train(dataset, FAST))
    huge = "you idiot " * 200_000 + "x" * 100_000
    [big, empty] = model.score([huge, ""])
    assert 0 <= big.scores["toxic"] <= 1 and 0 <= empty.scores["toxic"] <= 1


@pytest.mark.shared_data
@pytest.mark.slow
def test_parity_on_real_comments(corpora: Path) -> None:
    frame = pd.read_csv(corpora / "toxicity" / "jigsaw2018_subset.csv", nrows=4000)
    texts = frame["comment_text"].astype(str).tolist()
    assert engine.normalize_batch(texts) == _python_normalised(texts)
    dataset = pd.DataFrame(
        {
            "id": [f"j{i}" for i in range(len(frame))],
            "source": "jigsaw2018",
            "text": texts,
            "toxic": (frame["labels"] == 1).astype(float),
            "conspiracy": np.nan,
        }
    )
    for calibration in ("sigmoid", "isotonic"):
        trained = train(dataset, replace(FAST, calibration=calibration))
        _assert_parity(Model.from_trained(trained), trained.pipelines, texts)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=12), st.data())
def test_owner_search_near_the_gram_equals_the_full_search(
    gaps: list[int], data: st.DataObject
) -> None:
    # Sorted, disjoint tokens separated by gaps; any gram inside the span they cover.
    starts, ends, at = [], [], 0
    for gap in gaps:
        width = data.draw(st.integers(2, 5))
        starts.append(at + gap)
        ends.append(at + gap + width)
        at = ends[-1]
    tok_a, tok_b = np.array(starts, np.int64), np.array(ends, np.int64)
    lo = data.draw(st.integers(-1, at))
    hi = lo + data.draw(st.integers(1, 5))
    near = next((k for k in range(len(ends)) if ends[k] > lo), len(ends))
    assert engine._owner_near(tok_a, tok_b, 0, len(ends), near, lo, hi) == _owner(
        starts, ends, lo, hi
    )


def _owner(starts: list[int], ends: list[int], lo: int, hi: int) -> int:
    """The full search: most characters shared with [lo, hi), then nearest, then first."""

    def rank(k: int) -> tuple[int, int]:
        overlap = min(ends[k], hi) - max(starts[k], lo)
        return -overlap, min(abs(starts[k] - lo), abs(ends[k] - hi))

    return min(range(len(starts)), key=rank)
