"""Features: the scoring engine's hashed word and char_wb n-gram TF-IDF, as a transformer.

`HashedTfidf` is the only featuriser: training fits scikit-learn estimators on the CSR
matrix it builds, and the portable artifact scores with the very same engine kernel from
its IDF and the fitted weights, so training and serving see the same features by
construction. Fitting learns the IDF of every hashed column; a column that occurs in fewer
than `min_df` training texts (word block) or in none (char block) gets IDF 0, which makes
it no feature at all, as a word outside a vocabulary would be.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin

from moderate.model import engine


def smooth_idf(df: NDArray[np.int64], n_docs: int) -> NDArray[np.float64]:
    """scikit-learn's smooth IDF: ln((1 + n) / (1 + df)) + 1."""
    return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0


def idf_of(
    df: NDArray[np.int64], n_docs: int, spec: engine.FeatureSpec, min_df: int
) -> NDArray[np.float32]:
    """IDF per column, 0 where a column is no feature (rarer than min_df words, unseen)."""
    idf = smooth_idf(df, n_docs)
    word = np.arange(len(df)) < spec.word_size
    kept = np.where(word, df >= max(min_df, 1), df >= 1)
    return np.where(kept, idf, 0.0).astype(np.float32)


class HashedTfidf(TransformerMixin, BaseEstimator):
    """Normalised text -> hashed word n-gram and char_wb n-gram TF-IDF (the engine's).

    Each block (words, characters) is L2-normalised on its own, as a FeatureUnion of two
    TfidfVectorizers would be. `char_ngrams=None` leaves the character block out.
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        word_bits: int = 20,
        char_bits: int = 20,
        min_df: int = 1,
        n_threads: int | None = None,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.word_bits = word_bits
        self.char_bits = char_bits
        self.min_df = min_df
        self.n_threads = n_threads

    @property
    def spec(self) -> engine.FeatureSpec:
        """The engine's description of this feature space."""
        return engine.FeatureSpec(
            word_ngrams=tuple(self.word_ngrams),  # type: ignore[arg-type]
            char_ngrams=None if self.char_ngrams is None else tuple(self.char_ngrams),  # type: ignore[arg-type]
            word_bits=self.word_bits,
            char_bits=self.char_bits,
        )

    def fit(self, texts: Iterable[str], y: Any = None) -> HashedTfidf:
        """Learn each column's IDF from the texts."""
        texts = _texts(texts)
        df = engine.document_frequency(texts, self.spec, self.n_threads)
        return self.set_idf(idf_of(df, len(texts), self.spec, self.min_df), len(texts))

    def set_idf(self, idf: NDArray[np.float32], n_docs: int) -> HashedTfidf:
        """Use a known IDF (from a streaming pass, or shared by several fits)."""
        if len(idf) != self.spec.n_features:
            raise ValueError(
                f"IDF has {len(idf)} columns, the feature space {self.spec.n_features}"
            )
        self.idf_ = np.asarray(idf, dtype=np.float32)
        self.n_docs_ = n_docs
        self.n_features_out_ = self.spec.n_features
        return self

    def transform(self, texts: Iterable[str]) -> Any:
        """The CSR TF-IDF matrix of the texts."""
        return engine.transform(_texts(texts), self.spec, self.idf_, self.n_threads)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> Any:
        """Column names: the block and the hash bucket (n-grams are not kept)."""
        spec = self.spec
        words = [f"word{i}" for i in range(spec.word_size)]
        return np.asarray(words + [f"char{i}" for i in range(spec.n_features - spec.word_size)])


def _texts(texts: Iterable[str]) -> list[str]:
    return [t if isinstance(t, str) else str(t) for t in texts]
