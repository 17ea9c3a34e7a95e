"""Features: word and character n-gram TF-IDF over normalised text, or their hashed twins.

Character n-grams are hashed: sklearn's vocabulary lookup is a Python loop per n-gram,
hashing is a C loop, and with ~300 character n-grams per comment that loop is most of the
scoring time. The n-grams of a word are cached, since words repeat (Zipf).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import (
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.pipeline import FeatureUnion, Pipeline

# Words of two or more characters; "@USER" keeps its sign so it never meets the word "user".
TOKEN_PATTERN = r"(?u)@?\b\w\w+\b"


def word_tfidf(ngrams: tuple[int, int], min_df: int, max_features: int) -> TfidfVectorizer:
    """Word n-gram TF-IDF; the text is already normalised, so no lowercasing here."""
    return TfidfVectorizer(
        lowercase=False,
        token_pattern=TOKEN_PATTERN,
        ngram_range=ngrams,
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )


@lru_cache(maxsize=1 << 17)
def _word_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    padded = f" {word} "
    grams: list[str] = []
    for n in range(low, high + 1):
        if len(padded) <= n:  # sklearn counts a word shorter than n once, then stops
            grams.append(padded)
            break
        grams.extend([padded[i : i + n] for i in range(len(padded) - n + 1)])
    return tuple(grams)


class CharWbAnalyzer:
    """sklearn's char_wb n-grams (same n-grams, same order), cached per word."""

    def __init__(self, ngram_range: tuple[int, int] = (2, 5)) -> None:
        self.ngram_range = tuple(ngram_range)

    def __call__(self, doc: str) -> list[str]:
        """The n-grams of every whitespace-separated word, padded with a space."""
        low, high = self.ngram_range
        grams: list[str] = []
        for word in doc.split():
            grams.extend(_word_grams(word, low, high))
        return grams

    def __repr__(self) -> str:
        return f"CharWbAnalyzer(ngram_range={self.ngram_range})"


def char_hasher(ngrams: tuple[int, int], n_features: int, norm: str | None) -> HashingVectorizer:
    """Hashed char_wb n-gram counts (no vocabulary to fit or store)."""
    return HashingVectorizer(
        analyzer=CharWbAnalyzer(ngrams),
        n_features=n_features,
        alternate_sign=False,
        norm=norm,
        dtype=np.float32,
    )


def char_tfidf(ngrams: tuple[int, int], n_features: int) -> Pipeline:
    """Character n-grams inside word boundaries: robust to spelling and leftover obfuscation."""
    return Pipeline(
        [
            ("hash", char_hasher(ngrams, n_features, norm=None)),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )


def tfidf_features(
    word_ngrams: tuple[int, int],
    char_ngrams: tuple[int, int] | None,
    min_df: int,
    max_word_features: int,
    char_features: int,
) -> FeatureUnion:
    """Unfitted union of word TF-IDF and (unless char_ngrams is None) hashed char_wb TF-IDF.

    min_df and max_word_features bound the word vocabulary; char_features (a hash size)
    bounds the character n-grams.
    """
    parts: list[tuple[str, TfidfVectorizer | Pipeline]] = [
        ("word", word_tfidf(word_ngrams, min_df, max_word_features))
    ]
    if char_ngrams is not None:
        parts.append(("char", char_tfidf(char_ngrams, char_features)))
    return FeatureUnion(parts)


def hashed_features(
    word_ngrams: tuple[int, int], char_ngrams: tuple[int, int] | None, n_features: int
) -> FeatureUnion:
    """Stateless word + char_wb hashing: nothing to fit, so it streams data of any size."""
    parts: list[tuple[str, HashingVectorizer]] = [
        (
            "word",
            HashingVectorizer(
                lowercase=False,
                token_pattern=TOKEN_PATTERN,
                ngram_range=word_ngrams,
                n_features=n_features,
                alternate_sign=False,
                dtype=np.float32,
            ),
        )
    ]
    if char_ngrams is not None:
        parts.append(("char", char_hasher(char_ngrams, n_features, norm="l2")))
    return FeatureUnion(parts)
