"""The scoring engine: raw text to every label's log-odds in one compiled pass.

One numba kernel per job, each running over a batch of comments with no Python loop per
comment or per n-gram: it normalises the text (the steps of model/normalize.py, which stays
the readable specification and the test oracle), hashes word and char_wb n-grams, counts
them in a small open-addressing table, applies sublinear TF-IDF and the per-block L2 norm,
and then either takes the dot product with every label's weights (scoring) or writes the
row of a CSR matrix (training). Training and scoring therefore see the same features by
construction.

Text reaches the kernels as one array of code points (the batch encoded as UTF-32 once),
so kernel indices are Python string indices. The Unicode fold (NFKD without accents,
NFKC, casefold, look-alike letters) and the regex classes \\w and \\s come from tables
filled lazily, 256 code points at a time, from Python's own `unicodedata` and `re`: the
same definitions the Python normaliser uses.

Feature columns: word n-grams hash into [0, 2**word_bits), char_wb n-grams into
[2**word_bits, 2**word_bits + 2**char_bits). A column with IDF 0 (unseen in training, or
below min_df) is not a feature: it neither scores nor counts in the norm, as a word outside
a vocabulary would not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from operator import methodcaller
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

from moderate.model.normalize import _FOLD, LEET, MASKED_LEXICON, MASKS

# Bump when hashing or normalisation changes: artifacts record it and a mismatch is refused.
SCHEME = "moderate-hash-1"

_UNICODE = 0x110000
_PAGE = 8  # log2 of the code points per lazily filled table page

# Character classes, one bit each in CharTables.flags.
_WORD, _SPACE, _LOWER, _DIGIT, _SYM = 1, 2, 4, 8, 16  # \w, \s, a-z, 0-9, LEET and MASKS
_SYMBOLS = frozenset(ord(c) for c in "".join(LEET) + MASKS)

_LEET_FROM = np.array([ord(k) for k in LEET], dtype=np.int32)
_LEET_TO = np.array([ord(v) for v in LEET.values()], dtype=np.int32)
_MASK_CHARS = np.array([ord(c) for c in MASKS], dtype=np.int32)
_LEX_CHARS = np.array([ord(c) for w in MASKED_LEXICON for c in w], dtype=np.int32)
_LEX_STARTS = np.cumsum([0] + [len(w) for w in MASKED_LEXICON]).astype(np.int64)
_URL_TEXT = np.array([ord(c) for c in " URL "], dtype=np.int32)
_USER_TEXT = np.array([ord(c) for c in " @USER "], dtype=np.int32)


class CharTables:
    """Per code point: its fold (a run in `pool`) and its \\w / \\s flags, filled lazily."""

    def __init__(self) -> None:
        self.fold_len = np.full(_UNICODE, -1, dtype=np.int8)
        self.fold_off = np.zeros(_UNICODE, dtype=np.int32)
        self.flags = np.zeros(_UNICODE, dtype=np.uint8)
        self.done = np.zeros(_UNICODE >> _PAGE, dtype=np.bool_)
        self.pool = np.zeros(1 << 12, dtype=np.int32)
        self.used = 0
        self._lock = threading.Lock()
        self._fill([0])  # ASCII: the placeholders and the lexicon are made of it

    def fill(self, missing: NDArray[np.bool_]) -> bool:
        """Fill the pages a kernel marked in `missing`; False when it marked none.

        Kernels run without the GIL, possibly while this runs in another thread: a code
        point's run is written into the pool before its length, and a kernel that sees a
        run past the end of the pool it was given (grown since) counts it as missing too.
        """
        pages = np.flatnonzero(missing)
        if not len(pages):
            return False
        with self._lock:
            self._fill([int(p) for p in pages])
        missing[:] = False
        return True

    def _fill(self, pages: list[int]) -> None:
        """Fill pages and, first, every page their code points fold to.

        A page is published (its fold lengths written) only once the flags of all it folds
        to are in place: a kernel running meanwhile sees either nothing (missing) or
        everything it needs.
        """
        staged: dict[int, list[list[int]]] = {}
        while pages:
            page = int(pages.pop())
            if self.done[page] or page in staged:
                continue
            staged[page] = folds = self._stage(page)
            pages.extend({c >> _PAGE for run in folds for c in run} - set(staged))
        for page, folds in staged.items():
            self._publish(page, folds)

    def _stage(self, page: int) -> list[list[int]]:
        """Set the flags of a page's code points; return what each of them folds to."""
        base = page << _PAGE
        chars = "".join(chr(c) for c in range(base, base + (1 << _PAGE)))
        for match in re.finditer(r"\w", chars):
            self.flags[base + match.start()] |= _WORD
        for match in re.finditer(r"\s", chars):
            self.flags[base + match.start()] |= _SPACE
        for code in range(base, base + (1 << _PAGE)):
            if ord("a") <= code <= ord("z"):
                self.flags[code] |= _LOWER
            if ord("0") <= code <= ord("9"):
                self.flags[code] |= _DIGIT
            if code in _SYMBOLS:
                self.flags[code] |= _SYM
        return [[ord(c) for c in char.translate(_FOLD)] for char in chars]

    def _publish(self, page: int, folds: list[list[int]]) -> None:
        base = page << _PAGE
        for offset, folded in enumerate(folds):
            if self.used + len(folded) > len(self.pool):
                self.pool = np.concatenate([self.pool, np.zeros_like(self.pool)])
            self.pool[self.used : self.used + len(folded)] = folded
            self.fold_off[base + offset] = self.used
            self.fold_len[base + offset] = len(folded)  # last: the run is complete
            self.used += len(folded)
        self.done[page] = True


_TABLES: CharTables | None = None
_TABLES_LOCK = threading.Lock()


def char_tables() -> CharTables:
    """The process's tables (created on first use, never at import)."""
    global _TABLES
    with _TABLES_LOCK:
        if _TABLES is None:
            _TABLES = CharTables()
        return _TABLES


@dataclass(frozen=True)
class FeatureSpec:
    """The hashed feature space: n-gram ranges and the size of each block."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (2, 5)
    word_bits: int = 20
    char_bits: int = 20
    sublinear_tf: bool = True

    @property
    def word_size(self) -> int:
        """Columns of the word block."""
        return 1 << self.word_bits

    @property
    def n_features(self) -> int:
        """Columns in all: the word block, then the char block (if any)."""
        return self.word_size + (0 if self.char_ngrams is None else 1 << self.char_bits)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the hashing scheme."""
        return {**asdict(self), "scheme": SCHEME}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """The spec of a to_dict; ValueError for another hashing scheme."""
        if data.get("scheme") != SCHEME:
            raise ValueError(f"feature scheme {data.get('scheme')!r}, this engine is {SCHEME!r}")
        char = data.get("char_ngrams")
        return cls(
            word_ngrams=(int(data["word_ngrams"][0]), int(data["word_ngrams"][1])),
            char_ngrams=None if char is None else (int(char[0]), int(char[1])),
            word_bits=int(data["word_bits"]),
            char_bits=int(data["char_bits"]),
            sublinear_tf=bool(data.get("sublinear_tf", True)),
        )

    def kernel_args(self) -> tuple[int, int, int, int, int, int, int, int]:
        """The spec as the kernels take it (char range 0, 0 when there is no char block)."""
        char_lo, char_hi = self.char_ngrams or (0, 0)
        char_bits = self.char_bits if self.char_ngrams else 0
        return (
            self.word_ngrams[0],
            self.word_ngrams[1],
            char_lo,
            char_hi,
            self.word_bits,
            char_bits,
            int(self.char_ngrams is not None),
            int(self.sublinear_tf),
        )


# --------------------------------------------------------------------------- text in


_UTF8 = methodcaller("encode", "utf-8", "surrogatepass")


def encode(texts: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The batch as one UTF-8 byte array and the [start, end) byte offsets of each text.

    UTF-8 because CPython writes it fastest (ASCII text is copied as it is), and the
    kernels decode it as they read; surrogatepass: a lone surrogate is a code point like
    any other, never an error.
    """
    parts = list(map(_UTF8, texts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=offsets[1:])
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets


def _decode(codepoints: NDArray[np.int32]) -> str:
    return codepoints.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")


# --------------------------------------------------------------------------- normalise


@njit(cache=True, inline="always")
def _is(c, bits, flags):  # type: ignore[no-untyped-def]
    return (flags[c] & bits) != 0


@njit(cache=True, inline="always")
def _decode_at(data, i):  # type: ignore[no-untyped-def]
    """The code point of the UTF-8 (surrogates allowed) sequence at data[i], its length."""
    b0 = np.int64(data[i])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b0 < 0xF0:
        c = ((b0 & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
        return c | (np.int64(data[i + 2]) & 0x3F), 3
    c = ((b0 & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
    c |= (np.int64(data[i + 2]) & 0x3F) << 6
    return c | (np.int64(data[i + 3]) & 0x3F), 4


@njit(cache=True)
def _fold(data, lo, hi, fold_len, fold_off, pool, flags, missing, t, st, en):  # type: ignore[no-untyped-def]
    """Decode and fold data[lo:hi] into t; returns its length and what _needs would say.

    st/en are code point indices of the original text, which are Python string indices. A
    code point whose table page is not filled yet is marked in `missing` and skipped: the
    caller fills the page and runs the batch again.

    _needs is computed on the way, from the classes of the last six characters written
    (two bits each: 0 other, 1 a-z, 2 separator, 3 other word character).
    """
    n, window, symbols, needs, p1, p2 = 0, 0, 0, 0, -1, -1
    i, index = lo, 0
    while i < hi:
        c, size = _decode_at(data, i)
        i += size
        length = fold_len[c]
        if length < 0 or fold_off[c] + length > len(pool):
            missing[c >> 8] = True
            index += 1
            continue
        off = fold_off[c]
        for k in range(length):
            d = pool[off + k]
            t[n] = d
            st[n] = index
            en[n] = index + 1
            n += 1
            f = flags[d]
            symbols |= f
            if d == p1 and d == p2 and d != 10:
                needs |= 4
            p2, p1 = p1, d
            code = 1 if f & 4 else (2 if d == 32 or d == 46 or d == 45 else (3 if f & 1 else 0))
            window = ((window << 2) | code) & 0xFFF
            # [not a word character][a-z][sep][a-z][sep][a-z]: a spaced-out word may end here
            if (window & 0x3FF) == 0b0110011001 and (window >> 10) & 1 == 0:
                needs |= 1
        index += 1
    if symbols & 24:
        needs |= 2
    return n, needs


# No code point folds to more than 18 (U+FDFA, checked over all of Unicode).
_MAX_FOLD = 18


@njit(cache=True)
def _folded_length(data, lo, hi, fold_len):  # type: ignore[no-untyped-def]
    """A bound on the folded length of data[lo:hi]: cheap for short texts, exact for long."""
    if hi - lo <= 512:
        return _MAX_FOLD * (hi - lo)  # never fewer bytes than code points
    n, i = 0, lo
    while i < hi:
        c, size = _decode_at(data, i)
        n += max(fold_len[c], 0)
        i += size
    return n


@njit(cache=True)
def _starts_with(t, n, i, word):  # type: ignore[no-untyped-def]
    if i + len(word) > n:
        return False
    for k in range(len(word)):  # noqa: SIM110 (numba compiles loops, not generators)
        if t[i + k] != word[k]:
            return False
    return True


@njit(cache=True)
def _emit_placeholder(text, i, j, t, st, en, o, ot, ost, oen):  # type: ignore[no-untyped-def]
    for k in range(len(text)):
        ot[o + k] = text[k]
        ost[o + k] = st[i]
        oen[o + k] = en[j - 1]
    return o + len(text)


@njit(cache=True)
def _copy(t, st, en, a, b, o, ot, ost, oen):  # type: ignore[no-untyped-def]
    for k in range(a, b):
        ot[o] = t[k]
        ost[o] = st[k]
        oen[o] = en[k]
        o += 1
    return o


_HTTP = np.array([ord(c) for c in "http://"], dtype=np.int32)
_HTTPS = np.array([ord(c) for c in "https://"], dtype=np.int32)
_WWW = np.array([ord(c) for c in "www."], dtype=np.int32)
_URL_WORD = np.array([ord(c) for c in "url"], dtype=np.int32)


@njit(cache=True)
def _url_end(t, n, i, flags, http, https, www, url):  # type: ignore[no-untyped-def]
    """End of a URL match at i (`(?:https?://|www\\.)\\S+|(?<![\\w@])url(?!\\w)`), or -1."""
    for prefix in (https, http, www):
        if _starts_with(t, n, i, prefix):
            j = i + len(prefix)
            if j < n and not _is(t[j], 2, flags):
                while j < n and not _is(t[j], 2, flags):
                    j += 1
                return j
    if _starts_with(t, n, i, url):
        if i > 0 and (_is(t[i - 1], 1, flags) or t[i - 1] == 64):
            return -1
        if i + 3 < n and _is(t[i + 3], 1, flags):
            return -1
        return i + 3
    return -1


@njit(cache=True)
def _urls(t, st, en, n, ot, ost, oen, flags, url_text, http, https, www, url):  # type: ignore[no-untyped-def]
    """URLs -> " URL " into ot/ost/oen; -1 (nothing written) when there is none."""
    o, last, i = 0, 0, 0
    while i + 2 < n:
        c, d = t[i], t[i + 1]
        # h-t, w-w, u-r: the only starts of a match
        if (c == 104 and d == 116) or (c == 119 and d == 119) or (c == 117 and d == 114):
            j = _url_end(t, n, i, flags, http, https, www, url)
            if j > 0:
                o = _copy(t, st, en, last, i, o, ot, ost, oen)
                o = _emit_placeholder(url_text, i, j, t, st, en, o, ot, ost, oen)
                last = i = j
                continue
        i += 1
    if last == 0 and o == 0:
        return -1
    return _copy(t, st, en, last, n, o, ot, ost, oen)


@njit(cache=True)
def _users(t, st, en, n, ot, ost, oen, flags, user_text):  # type: ignore[no-untyped-def]
    """`(?<![\\w@])@\\w+` -> " @USER "."""
    o, last, i = 0, 0, 0
    while i < n:
        if (
            t[i] == 64
            and i + 1 < n
            and _is(t[i + 1], 1, flags)
            and (i == 0 or not (_is(t[i - 1], 1, flags) or t[i - 1] == 64))
        ):
            j = i + 1
            while j < n and _is(t[j], 1, flags):
                j += 1
            o = _copy(t, st, en, last, i, o, ot, ost, oen)
            o = _emit_placeholder(user_text, i, j, t, st, en, o, ot, ost, oen)
            last = i = j
            continue
        i += 1
    if last == 0:
        return -1
    return _copy(t, st, en, last, n, o, ot, ost, oen)


@njit(cache=True)
def _spaced(t, st, en, n, ot, ost, oen, flags):  # type: ignore[no-untyped-def]
    """`(?<![\\w])[a-z](?:[ .\\-][a-z](?![\\w])){2,}` -> every other character."""
    o, last, i = 0, 0, 0
    while i < n:
        if _is(t[i], 4, flags) and (i == 0 or not _is(t[i - 1], 1, flags)):
            k, j = 0, i + 1
            while (
                j + 1 < n
                and (t[j] == 32 or t[j] == 46 or t[j] == 45)
                and _is(t[j + 1], 4, flags)
                and (j + 2 >= n or not _is(t[j + 2], 1, flags))
            ):
                k += 1
                j += 2
            if k >= 2:
                o = _copy(t, st, en, last, i, o, ot, ost, oen)
                for m in range(i, j, 2):
                    ot[o] = t[m]
                    ost[o] = st[m]
                    oen[o] = en[m]
                    o += 1
                last = i = j
                continue
        i += 1
    if last == 0:
        return -1
    return _copy(t, st, en, last, n, o, ot, ost, oen)


@njit(cache=True)
def _leet(c, leet_from, leet_to):  # type: ignore[no-untyped-def]
    for k in range(len(leet_from)):
        if leet_from[k] == c:
            return leet_to[k]
    return c


@njit(cache=True)
def _is_mask(c, masks):  # type: ignore[no-untyped-def]
    for m in masks:  # noqa: SIM110
        if m == c:
            return True
    return False


@njit(cache=True)
def _fold_word(t, i, j, flags, leet_from, leet_to, masks, lex_chars, lex_starts):  # type: ignore[no-untyped-def]
    """model.normalize._fold_word in place on t[i:j] (the replacement has the same length)."""
    core = j
    while core > i and not (_is(t[core - 1], 12, flags) or t[core - 1] == 36):
        core -= 1  # the trailing run of [^a-z0-9$]
    inner = core
    while inner > i and _is(t[inner - 1], 8, flags):
        inner -= 1
    if inner != core:
        symbolic = False
        for m in range(i + 1, inner):
            c = t[m]
            if _leet(c, leet_from, leet_to) != c or _is_mask(c, masks):
                symbolic = True
        if not symbolic:
            return False  # "covid19", "mp3": digits ending a plain word are a number
    for m in range(i, core):
        c = t[m]
        if _is(c, 8, flags) and _leet(c, leet_from, leet_to) == c:
            return False  # a digit that stands for no letter: a number or an identifier
    masked, changed = False, False
    for m in range(i, core):
        c = _leet(t[m], leet_from, leet_to)
        changed = changed or c != t[m]
        t[m] = c
        masked = masked or _is_mask(c, masks)
    if not masked:
        return changed
    fit, fits = -1, 0
    for w in range(len(lex_starts) - 1):
        a, b = lex_starts[w], lex_starts[w + 1]
        if b - a != core - i:
            continue
        ok = True
        for m in range(core - i):
            c = t[i + m]
            if _is_mask(c, masks):
                if not _is(lex_chars[a + m], 4, flags):
                    ok = False
                    break
            elif c != lex_chars[a + m]:
                ok = False
                break
        if ok:
            fit = w
            fits += 1
    if fits == 1:
        a = lex_starts[fit]
        for m in range(core - i):
            t[i + m] = lex_chars[a + m]
        return True
    return changed


@njit(cache=True)
def _obfuscated_words(t, n, flags, leet_from, leet_to, masks, lex_chars, lex_starts):  # type: ignore[no-untyped-def]
    """`(?<![\\w SYM])[a-z][a-z0-9 SYM]*[0-9 SYM][a-z0-9 SYM]*`, folded in place.

    Returns whether any character changed.
    """
    changed = False
    i = 0
    while i < n:
        c = t[i]
        if _is(c, 4, flags) and (i == 0 or not (_is(t[i - 1], 17, flags))):
            j, symbolic = i + 1, False
            while j < n and (_is(t[j], 28, flags)):
                if not _is(t[j], 4, flags):
                    symbolic = True
                j += 1
            if symbolic:
                changed |= _fold_word(
                    t, i, j, flags, leet_from, leet_to, masks, lex_chars, lex_starts
                )
            i = j  # no match can start inside the run: each position follows a run character
            continue
        i += 1
    return changed


@njit(cache=True)
def _repeats(t, st, en, n, ot, ost, oen):  # type: ignore[no-untyped-def]
    """`(.)\\1{2,}` -> the first two characters (`.` is anything but a newline)."""
    o, last, i = 0, 0, 0
    while i < n:
        c = t[i]
        j = i + 1
        while j < n and t[j] == c:
            j += 1
        if j - i >= 3 and c != 10:
            o = _copy(t, st, en, last, i, o, ot, ost, oen)
            ot[o], ost[o], oen[o] = c, st[i], en[i]
            ot[o + 1], ost[o + 1], oen[o + 1] = c, st[i + 1], en[j - 1]
            o += 2
            last = j
        i = j
    if last == 0:
        return -1
    return _copy(t, st, en, last, n, o, ot, ost, oen)


@njit(cache=True)
def _normalize(  # type: ignore[no-untyped-def]
    data,
    lo,
    hi,
    tabs,
    t,
    st,
    en,
    u,
    ust,
    uen,
):
    """The normalised text of data[lo:hi]: (length, text, starts, ends).

    t and u (with their offset arrays) are two buffers; a step that finds nothing to
    replace copies nothing, so the result is in whichever buffer the last change wrote.
    """
    (fold_len, fold_off, pool, flags, missing, leet_from, leet_to, masks, lex_chars, lex_starts,
     url_text, user_text, http, https, www, url) = tabs  # fmt: skip
    # The last three steps run only where a cheap scan says they could match (most
    # comments have no spaced-out letters, symbols inside words or tripled characters).
    n, needs = _fold(data, lo, hi, fold_len, fold_off, pool, flags, missing, t, st, en)
    m = _urls(t, st, en, n, u, ust, uen, flags, url_text, http, https, www, url)
    if m >= 0:
        n, t, st, en, u, ust, uen = m, u, ust, uen, t, st, en
        needs = _needs(t, n, flags)
    m = _users(t, st, en, n, u, ust, uen, flags, user_text)
    if m >= 0:
        n, t, st, en, u, ust, uen = m, u, ust, uen, t, st, en
        needs = _needs(t, n, flags)
    if needs & 1:
        m = _spaced(t, st, en, n, u, ust, uen, flags)
        if m >= 0:
            n, t, st, en, u, ust, uen = m, u, ust, uen, t, st, en
            needs = _needs(t, n, flags)
    if needs & 2 and _obfuscated_words(
        t, n, flags, leet_from, leet_to, masks, lex_chars, lex_starts
    ):
        needs = _needs(t, n, flags)
    if needs & 4:
        m = _repeats(t, st, en, n, u, ust, uen)
        if m >= 0:
            n, t, st, en, u, ust, uen = m, u, ust, uen, t, st, en
    return n, t, st, en


@njit(cache=True)
def _needs(t, n, flags):  # type: ignore[no-untyped-def]
    """Which of spaced (1), obfuscated words (2), repeats (4) could match in t[:n]."""
    symbols = 0
    needs = 0
    for i in range(n):
        c = t[i]
        symbols |= flags[c]
        if i + 2 < n and c == t[i + 1] and c == t[i + 2] and c != 10:
            needs |= 4
        # a single letter, separator, letter, separator, letter: the least a spaced-out
        # word holds
        if (
            (c == 32 or c == 46 or c == 45)
            and i + 3 < n
            and (t[i + 2] == 32 or t[i + 2] == 46 or t[i + 2] == 45)
            and _is(t[i + 1], 4, flags)
            and _is(t[i + 3], 4, flags)
            and i >= 1
            and _is(t[i - 1], 4, flags)
            and (i == 1 or not _is(t[i - 2], 1, flags))
        ):
            needs |= 1
    if symbols & 24:  # a digit or a symbol
        needs |= 2
    return needs


# --------------------------------------------------------------------------- n-grams

_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _column(h, bits):  # type: ignore[no-untyped-def]
    """The top `bits` bits of h * 2**64/phi: FNV's low bits are weak, its high bits are not."""
    return np.int64((h * _GOLDEN) >> np.uint64(64 - bits))


@intrinsic
def _prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Ask the CPU to fetch array[index] into cache (LLVM's prefetch; a hint, never a fault)."""
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        kind = sig.args[0]
        data = context.make_array(kind)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, kind, data, [args[1]])
        bytes_ = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [bytes_, i32, i32, i32]),
            "llvm.prefetch.p0",
        )
        # read, high temporal locality, data cache
        arguments = [builder.bitcast(pointer, bytes_), i32(0), i32(3), i32(1)]
        builder.call(function, arguments)
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True)
def _units(t, n, flags, tok_a, tok_b, chunk_a, chunk_b):  # type: ignore[no-untyped-def]
    """Tokens (`@?\\b\\w\\w+\\b`) and whitespace chunks of t[:n] in one pass; their counts."""
    ntok, nchunk, i, chunk = 0, 0, 0, -1
    while i < n:
        f = flags[t[i]]
        if f & 2:  # whitespace ends a chunk
            if chunk >= 0:
                chunk_a[nchunk], chunk_b[nchunk] = chunk, i
                nchunk += 1
                chunk = -1
            i += 1
            continue
        if chunk < 0:
            chunk = i
        if f & 1:  # a run of word characters (never whitespace) is a token from 2 on
            j = i + 1
            while j < n and flags[t[j]] & 1:
                j += 1
            if j - i >= 2:
                tok_a[ntok] = i - 1 if i > 0 and t[i - 1] == 64 else i
                tok_b[ntok] = j
                ntok += 1
            i = j
            continue
        i += 1
    if chunk >= 0:
        chunk_a[nchunk], chunk_b[nchunk] = chunk, n
        nchunk += 1
    return ntok, nchunk


@njit(cache=True)
def _token_hashes(t, tok_a, tok_b, ntok, out):  # type: ignore[no-untyped-def]
    for k in range(ntok):
        h = _OFFSET
        for m in range(tok_a[k], tok_b[k]):
            h = (h ^ np.uint64(t[m])) * _PRIME
        out[k] = h * _GOLDEN


@njit(cache=True, inline="always")
def _word_column(hashes, k, size, word_bits):  # type: ignore[no-untyped-def]
    g = _OFFSET ^ np.uint64(size)
    for m in range(k, k + size):
        g = (g ^ hashes[m]) * _PRIME
    return _column(g, word_bits)


@njit(cache=True, inline="always")
def _padded(t, a, b, p):  # type: ignore[no-untyped-def]
    """Code point p of the chunk t[a:b] padded with a space on each side."""
    if p == 0 or p == b - a + 1:
        return 32
    return t[a + p - 1]


@njit(cache=True)
def _occurrences(ntok, chunk_a, chunk_b, nchunk, spec):  # type: ignore[no-untyped-def]
    wlo, whi, clo, chi, _, _, use_char, _ = spec
    total = 0
    for size in range(wlo, whi + 1):
        total += max(ntok - size + 1, 0)
    if use_char:
        for k in range(nchunk):
            length = chunk_b[k] - chunk_a[k] + 2
            for size in range(clo, chi + 1):
                if length <= size:
                    total += 1
                    break
                total += length - size + 1
    return total


@njit(cache=True, inline="always")
def _add(col, keys, where, tab, mask, nu, params, stride):  # type: ignore[no-untyped-def]
    """Count column col in tab[slot] = col << 32 | count (-1: free); a new column also goes
    to keys[nu], its slot to where[nu]. One 8-byte entry per slot keeps the table of a
    typical comment in the L1 cache.

    A new column's parameters are prefetched: by the time the dot product reads them,
    they are in cache (measured: the dot product takes a third of the time).
    """
    slot = col & mask
    while True:
        entry = tab[slot]
        if (entry >> 32) == col:
            tab[slot] = entry + 1
            return nu
        if entry == -1:
            _prefetch(params, col * stride)  # type: ignore[call-arg]
            tab[slot] = (col << 32) | 1
            keys[nu] = col
            where[nu] = slot
            return nu + 1
        slot = (slot + 1) & mask


@njit(cache=True)
def _count(  # type: ignore[no-untyped-def]
    t,
    tok_a,
    tok_b,
    ntok,
    chunk_a,
    chunk_b,
    nchunk,
    hashes,
    spec,
    keys,
    counts,
    where,
    tab,
    mask,
    params,
    stride,
):
    """Distinct columns of the text's n-grams in keys[:nu], their counts in counts[:nu]."""
    wlo, whi, clo, chi, word_bits, char_bits, use_char, _ = spec
    char_base = np.int64(1 << word_bits)
    nu = 0
    _token_hashes(t, tok_a, tok_b, ntok, hashes)
    for size in range(wlo, whi + 1):
        for k in range(ntok - size + 1):
            col = _word_column(hashes, k, size, word_bits)
            nu = _add(col, keys, where, tab, mask, nu, params, stride)
    if use_char:
        for k in range(nchunk):
            a, b = chunk_a[k], chunk_b[k]
            length = b - a + 2
            for s in range(length):
                h = _OFFSET
                for size in range(1, min(chi, length - s) + 1):
                    h = (h ^ np.uint64(_padded(t, a, b, s + size - 1))) * _PRIME
                    # sklearn's char_wb: every gram of clo..chi shorter than the padded word,
                    # and the whole padded word once (size == length only when s == 0) when
                    # it is no longer than chi, even if it is shorter than clo.
                    if size >= clo or size == length:
                        col = char_base + _column(h ^ (np.uint64(size) << np.uint64(56)), char_bits)
                        nu = _add(col, keys, where, tab, mask, nu, params, stride)
    for k in range(nu):  # counts out, and the table free again for the next text
        counts[k] = tab[where[k]] & 0xFFFFFFFF
        tab[where[k]] = -1
    return nu


@njit(cache=True, inline="always")
def _tfidf(count, idf, sublinear):  # type: ignore[no-untyped-def]
    tf = np.float64(count)
    if sublinear and count > 1:
        tf = 1.0 + np.log(tf)
    return tf * np.float64(idf)


@njit(cache=True)
def _values(keys, counts, nu, idf, idf_stride, word_size, sublinear, values):  # type: ignore[no-untyped-def]
    """TF-IDF of each distinct column, L2-normalised per block (0: not a feature)."""
    word_sq, char_sq = 0.0, 0.0
    for k in range(nu):
        v = _tfidf(counts[k], idf[keys[k] * idf_stride], sublinear)
        values[k] = v
        if keys[k] < word_size:
            word_sq += v * v
        else:
            char_sq += v * v
    word_norm = np.sqrt(word_sq) if word_sq > 0 else 1.0
    char_norm = np.sqrt(char_sq) if char_sq > 0 else 1.0
    for k in range(nu):
        values[k] /= word_norm if keys[k] < word_size else char_norm


@njit(cache=True)
def _dot(keys, counts, nu, params, stride, n_labels, word_size, sublinear, acc, logits, row):  # type: ignore[no-untyped-def]
    """logits[row] = the normalised features . each label's weights, in one pass.

    Each block's sum is divided by its norm at the end: one read of a column's numbers
    (its idf and weights share a cache line) instead of one per pass.
    """
    acc[:] = 0.0
    word_sq, char_sq = 0.0, 0.0
    if n_labels == 2:  # the common case, with the sums in registers
        w0, w1, c0, c1 = 0.0, 0.0, 0.0, 0.0
        for k in range(nu):
            at = keys[k] * stride
            v = _tfidf(counts[k], params[at], sublinear)
            a, b = v * np.float64(params[at + 1]), v * np.float64(params[at + 2])
            if keys[k] < word_size:
                word_sq += v * v
                w0 += a
                w1 += b
            else:
                char_sq += v * v
                c0 += a
                c1 += b
        acc[0, 0], acc[0, 1], acc[1, 0], acc[1, 1] = w0, w1, c0, c1
    else:
        for k in range(nu):
            at = keys[k] * stride
            v = _tfidf(counts[k], params[at], sublinear)
            block = 0 if keys[k] < word_size else 1
            if block == 0:
                word_sq += v * v
            else:
                char_sq += v * v
            for label in range(n_labels):
                acc[block, label] += v * np.float64(params[at + 1 + label])
    word_norm = np.sqrt(word_sq) if word_sq > 0 else 1.0
    char_norm = np.sqrt(char_sq) if char_sq > 0 else 1.0
    for label in range(n_labels):
        logits[row, label] = acc[0, label] / word_norm + acc[1, label] / char_norm


# --------------------------------------------------------------------------- batches


@njit(cache=True)
def _pow2(n):  # type: ignore[no-untyped-def]
    size = 16
    while size < n:
        size *= 2
    return size


@njit(cache=True)
def _capacity(data, lo, hi, fold_len):  # type: ignore[no-untyped-def]
    """Characters a text's scratch buffers must hold (placeholders grow a text 3.5x at most)."""
    return 4 * _folded_length(data, lo, hi, fold_len) + 16


@njit(cache=True)
def _text_buffers(capacity):  # type: ignore[no-untyped-def]
    """Scratch for one text: two text buffers with their offsets, tokens, chunks, hashes."""
    return (
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int32),
        np.empty(capacity, np.int64),
        np.empty(capacity, np.int64),
        np.empty(capacity, np.int64),
        np.empty(capacity, np.int64),
        np.empty(capacity, np.uint64),
    )


@njit(cache=True)
def _table_buffers(size):  # type: ignore[no-untyped-def]
    """An empty n-gram table of `size` slots: keys, counts, values, slots, where."""
    return (
        np.empty(size, np.int64),
        np.empty(size, np.int64),
        np.empty(size, np.float64),
        np.full(size, -1, np.int64),
        np.empty(size, np.int64),
    )


@njit(cache=True)
def _analyse(data, lo, hi, tabs, spec, text, table, params, stride):  # type: ignore[no-untyped-def]
    """Normalise data[lo:hi], find its tokens and chunks, count its n-gram columns.

    `text` and `table` are scratch (see _text_buffers, _table_buffers), replaced by larger
    ones when too small. Returns them, the normalised text (length, characters, starts,
    ends, tokens, chunks), the number of distinct columns and the table's mask.
    """
    fold_len, flags = tabs[0], tabs[3]
    need = _capacity(data, lo, hi, fold_len)
    if need > len(text[0]):
        text = _text_buffers(need)
    t, st, en, u, ust, uen, tok_a, tok_b, chunk_a, chunk_b, hashes = text
    n, norm, starts, ends = _normalize(data, lo, hi, tabs, t, st, en, u, ust, uen)
    ntok, nchunk = _units(norm, n, flags, tok_a, tok_b, chunk_a, chunk_b)
    occurrences = _occurrences(ntok, chunk_a, chunk_b, nchunk, spec)
    size = _pow2(occurrences + occurrences // 2 + 1)
    if size > len(table[0]):
        table = _table_buffers(size)
    keys, counts, _, tab, where = table
    nu = _count(
        norm, tok_a, tok_b, ntok, chunk_a, chunk_b, nchunk, hashes, spec, keys, counts,
        where, tab, size - 1, params, stride,
    )  # fmt: skip
    return text, table, (n, norm, starts, ends, ntok, nchunk), nu, size - 1


@njit(cache=True)
def _featurize_range(  # type: ignore[no-untyped-def]
    data,
    offsets,
    first,
    last,
    tabs,
    spec,
    params,
    stride,
    n_labels,
    mode,
    logits,
    nnz,
    indptr,
    indices,
    csr_data,
    df,
):
    """The features of comments first..last-1, by mode.

    mode 0: logits[i, :] = features . weights (params[col] = idf, w_0, ..., w_L-1)
    mode 1: nnz[i] = the row's number of features
    mode 2: the row's CSR indices and data from indptr[i]
    mode 3: df[col] += 1 for every column present (params unused)
    """
    word_bits, sublinear = spec[4], spec[7]
    text = _text_buffers(0)
    table = _table_buffers(0)
    acc = np.zeros((2, max(n_labels, 1)), np.float64)
    for i in range(first, last):
        text, table, _, nu, _ = _analyse(
            data, offsets[i], offsets[i + 1], tabs, spec, text, table, params, stride
        )
        keys, counts, values = table[0], table[1], table[2]
        if mode == 3:
            for k in range(nu):
                df[keys[k]] += 1
            continue
        if mode == 0:
            _dot(
                keys,
                counts,
                nu,
                params,
                stride,
                n_labels,
                1 << word_bits,
                sublinear,
                acc,
                logits,
                i,
            )
            continue
        _values(keys, counts, nu, params, stride, 1 << word_bits, sublinear, values)
        if mode == 1:
            kept = 0
            for k in range(nu):
                if values[k] != 0.0:
                    kept += 1
            nnz[i] = kept
        else:
            at = indptr[i]
            for k in range(nu):
                if values[k] != 0.0:
                    indices[at] = keys[k]
                    csr_data[at] = values[k]
                    at += 1


@njit(cache=True, parallel=True, nogil=True)
def _featurize(  # type: ignore[no-untyped-def]
    data,
    offsets,
    bounds,
    tabs,
    spec,
    params,
    stride,
    n_labels,
    mode,
    logits,
    nnz,
    indptr,
    indices,
    csr_data,
    df_parts,
):
    for part in prange(len(bounds) - 1):
        _featurize_range(
            data,
            offsets,
            bounds[part],
            bounds[part + 1],
            tabs,
            spec,
            params,
            stride,
            n_labels,
            mode,
            logits,
            nnz,
            indptr,
            indices,
            csr_data,
            df_parts[part % len(df_parts)],
        )


@njit(cache=True, nogil=True)
def _featurize_serial(  # type: ignore[no-untyped-def]
    data,
    offsets,
    tabs,
    spec,
    params,
    stride,
    n_labels,
    mode,
    logits,
    nnz,
    indptr,
    indices,
    csr_data,
    df,
):
    """_featurize on the calling thread: no thread pool to wake for a small batch."""
    _featurize_range(
        data,
        offsets,
        0,
        len(offsets) - 1,
        tabs,
        spec,
        params,
        stride,
        n_labels,
        mode,
        logits,
        nnz,
        indptr,
        indices,
        csr_data,
        df,
    )


@njit(cache=True, nogil=True)
def _normalize_batch(  # type: ignore[no-untyped-def]
    data,
    offsets,
    tabs,
):
    """Every text normalised: code points, per-text offsets, and per-character spans."""
    fold_len = tabs[0]
    total = 0
    for i in range(len(offsets) - 1):
        total += _capacity(data, offsets[i], offsets[i + 1], fold_len)
    out = np.empty(total, np.int32)
    out_st = np.empty(total, np.int32)
    out_en = np.empty(total, np.int32)
    out_off = np.zeros(len(offsets), np.int64)
    at = 0
    for i in range(len(offsets) - 1):
        lo, hi = offsets[i], offsets[i + 1]
        t, st, en, u, ust, uen = _text_buffers(_capacity(data, lo, hi, fold_len))[:6]
        n, text, starts, ends = _normalize(data, lo, hi, tabs, t, st, en, u, ust, uen)
        out[at : at + n] = text[:n]
        out_st[at : at + n] = starts[:n]
        out_en[at : at + n] = ends[:n]
        at += n
        out_off[i + 1] = at
    return out[:at], out_off, out_st[:at], out_en[:at]


# --------------------------------------------------------------------------- explanations


@njit(cache=True)
def _owner_near(tok_a, tok_b, first, stop, near, lo, hi):  # type: ignore[no-untyped-def]
    """The token of [first, stop) sharing most characters with [lo, hi), the nearest on
    ties, the first on equal ones. Only where the answer can be is looked at: the tokens
    overlapping [lo, hi) and the nearest one on each side (tokens are sorted and
    disjoint, so any other shares strictly less). `near` is the first token of
    [first, stop) that ends after lo. This keeps an explanation linear in the text, even
    for one chunk of thousands of tokens.
    """
    best, best_overlap, best_distance = first, -(1 << 62), 0
    for k in range(max(first, near - 1), stop):
        overlap = min(tok_b[k], hi) - max(tok_a[k], lo)
        distance = min(abs(tok_a[k] - lo), abs(tok_b[k] - hi))
        if overlap > best_overlap or (overlap == best_overlap and distance < best_distance):
            best, best_overlap, best_distance = k, overlap, distance
        if tok_a[k] >= hi:
            break
    return best


@njit(cache=True, nogil=True)
def _explain_one(  # type: ignore[no-untyped-def]
    data,
    lo,
    hi,
    tabs,
    spec,
    params,
    stride,
    n_labels,
):
    """Each unit's (token's, or wordless chunk's) share of every label's log-odds.

    A word n-gram's contribution is shared among the tokens it covers, a char n-gram's goes
    to the token of its chunk it overlaps most (the chunk itself when it holds none); every
    occurrence of a repeated n-gram takes an equal part. Returns the units' [start, end) in
    the ORIGINAL text and their weights; the weights add up to the log-odds minus intercept.
    """
    wlo, whi, clo, chi, word_bits, char_bits, use_char, sublinear = spec
    text, table, parsed, nu, mask = _analyse(
        data, lo, hi, tabs, spec, _text_buffers(0), _table_buffers(0), params, stride
    )
    _, t, st, en, ntok, nchunk = parsed
    tok_a, tok_b, chunk_a, chunk_b, hashes = text[6], text[7], text[8], text[9], text[10]
    keys, counts, values, tab, where = table
    for k in range(nu):
        tab[where[k]] = (keys[k] << 32) | k  # from here on a slot holds its column's index
    _values(keys, counts, nu, params, stride, 1 << word_bits, sublinear, values)
    # Units: the tokens, then each chunk without a token.
    unit_a = np.empty(ntok + nchunk, np.int64)
    unit_b = np.empty(ntok + nchunk, np.int64)
    unit_a[:ntok] = tok_a[:ntok]
    unit_b[:ntok] = tok_b[:ntok]
    nunit = ntok
    weights = np.zeros((ntok + nchunk, max(n_labels, 1)), np.float64)
    # contribution of one occurrence of key k: w * x / count
    share = np.zeros((max(nu, 1), max(n_labels, 1)), np.float64)
    for k in range(nu):
        for label in range(n_labels):
            w = np.float64(params[keys[k] * stride + 1 + label])
            share[k, label] = w * values[k] / counts[k]
    char_base = np.int64(1 << word_bits)
    for gram in range(wlo, whi + 1):
        for k in range(ntok - gram + 1):
            col = _word_column(hashes, k, gram, word_bits)
            slot = _find(col, tab, mask)
            for m in range(k, k + gram):
                for label in range(n_labels):
                    weights[m, label] += share[slot, label] / gram
    if use_char:
        first = 0
        for c in range(nchunk):
            a, b = chunk_a[c], chunk_b[c]
            while first < ntok and tok_a[first] < a:
                first += 1
            stop = first
            while stop < ntok and tok_a[stop] < b:
                stop += 1
            if stop == first:
                unit_a[nunit], unit_b[nunit] = a, b
                owner_fixed = nunit
                nunit += 1
            else:
                owner_fixed = -1
            length = b - a + 2
            near = first
            for s in range(length):
                while near < stop and tok_b[near] <= a + s - 1:
                    near += 1
                h = _OFFSET
                for gram in range(1, min(chi, length - s) + 1):
                    h = (h ^ np.uint64(_padded(t, a, b, s + gram - 1))) * _PRIME
                    if gram >= clo or gram == length:
                        col = char_base + _column(h ^ (np.uint64(gram) << np.uint64(56)), char_bits)
                        slot = _find(col, tab, mask)
                        owner = owner_fixed
                        if owner < 0:
                            lo = a + s - 1
                            owner = _owner_near(tok_a, tok_b, first, stop, near, lo, lo + gram)
                        for label in range(n_labels):
                            weights[owner, label] += share[slot, label]
            first = stop
    starts = np.empty(nunit, np.int64)
    ends = np.empty(nunit, np.int64)
    for k in range(nunit):
        starts[k] = st[unit_a[k]]
        ends[k] = en[unit_b[k] - 1]
    return starts, ends, weights[:nunit]


@njit(cache=True, inline="always")
def _find(col, tab, mask):  # type: ignore[no-untyped-def]
    """The index of column col, once each of its slots holds col << 32 | index."""
    slot = col & mask
    while (tab[slot] >> 32) != col:
        slot = (slot + 1) & mask
    return tab[slot] & 0xFFFFFFFF


# --------------------------------------------------------------------------- Python API


def threads(requested: int | None = None) -> int:
    """Threads to use: the request, else all the cores numba may use."""
    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    return max(1, min(requested or available, available))


def _tables_args(tables: CharTables, missing: NDArray[np.bool_]) -> tuple[Any, ...]:
    return (
        tables.fold_len, tables.fold_off, tables.pool, tables.flags, missing,
        _LEET_FROM, _LEET_TO, _MASK_CHARS, _LEX_CHARS, _LEX_STARTS, _URL_TEXT, _USER_TEXT,
        _HTTP, _HTTPS, _WWW, _URL_WORD,
    )  # fmt: skip


def _call(texts: Sequence[str], kernel: Callable[..., Any]) -> Any:
    """kernel(data, offsets, tables) on the encoded batch, again after filling any table
    page it met unfilled (the first time a script shows up), so its result is complete."""
    data, offsets = encode(texts)
    tables = char_tables()
    missing = np.zeros(_UNICODE >> _PAGE, dtype=np.bool_)  # this call's own
    while True:
        result = kernel(data, offsets, _tables_args(tables, missing))
        if not tables.fill(missing):
            return result


def _bounds(n: int, parts: int) -> NDArray[np.int64]:
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


# Batches smaller than this run on the calling thread: waking the thread pool costs more
# than it saves, and a woken thread that the OS schedules late is a latency spike.
SERIAL_BELOW = 64
_EMPTY_F32 = np.zeros(1, np.float32)
_EMPTY_F64 = np.zeros(1, np.float64)
_EMPTY_I64 = np.zeros(1, np.int64)


def _run(
    texts: Sequence[str],
    spec: FeatureSpec,
    params: NDArray[np.float32],
    n_labels: int,
    mode: int,
    n_threads: int | None,
    out: dict[str, NDArray[Any]],
) -> None:
    """One _featurize pass in `mode` over the texts, writing into the arrays of `out`."""
    workers = threads(n_threads)
    # Several chunks per thread balance long and short comments; one chunk per thread when
    # each chunk needs its own document-frequency row.
    parts = workers if mode == 3 else min(max(len(texts), 1), workers * 8)
    bounds = _bounds(len(texts), parts)
    df_parts = out.get("df", np.zeros((1, 1), np.int64))

    arrays = (
        out.get("logits", np.zeros((1, 1))),
        out.get("nnz", _EMPTY_I64),
        out.get("indptr", _EMPTY_I64),
        out.get("indices", np.zeros(1, np.int32)),
        out.get("data", _EMPTY_F64),
    )
    serial = workers == 1 or len(texts) < SERIAL_BELOW

    def kernel(data: Any, offsets: Any, tables: Any) -> None:
        df_parts[:] = 0  # a pass run again must not count twice
        head = (data, offsets)
        rest = (tables, spec.kernel_args(), params, 1 + n_labels, n_labels, mode, *arrays)
        if serial:
            _featurize_serial(*head, *rest, df_parts[0])
        else:
            _featurize(*head, bounds, *rest, df_parts)

    if serial:
        _call(texts, kernel)
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(workers)
    try:
        _call(texts, kernel)
    finally:
        numba.set_num_threads(previous)


def document_frequency(
    texts: Sequence[str], spec: FeatureSpec, n_threads: int | None = None
) -> NDArray[np.int64]:
    """In how many texts each feature column occurs."""
    workers = threads(n_threads)
    parts = np.zeros((workers, spec.n_features), np.int64)
    _run(texts, spec, _EMPTY_F32, 0, 3, workers, {"df": parts})
    return parts.sum(axis=0)


def transform(
    texts: Sequence[str], spec: FeatureSpec, idf: NDArray[np.float32], n_threads: int | None = None
) -> Any:
    """The TF-IDF matrix (scipy CSR, float64 as the solvers want it, sorted indices)."""
    import scipy.sparse as sp

    idf = np.ascontiguousarray(idf, dtype=np.float32)
    nnz = np.zeros(len(texts), np.int64)
    _run(texts, spec, idf, 0, 1, n_threads, {"nnz": nnz})
    indptr = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(nnz, out=indptr[1:])
    indices = np.zeros(int(indptr[-1]), np.int32)
    data = np.zeros(int(indptr[-1]), np.float64)
    _run(texts, spec, idf, 0, 2, n_threads, {"indptr": indptr, "indices": indices, "data": data})
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(texts), spec.n_features))
    matrix.sort_indices()
    return matrix


def logits(
    texts: Sequence[str],
    spec: FeatureSpec,
    params: NDArray[np.float32],
    n_threads: int | None = None,
) -> NDArray[np.float64]:
    """features . weights per text and label (no intercept); params has one row per column:
    [idf, w_label0, w_label1, ...], so a feature's numbers share a cache line."""
    n_labels = params.shape[1] - 1
    out = np.zeros((len(texts), n_labels), np.float64)
    if len(texts):
        flat = np.ascontiguousarray(params, dtype=np.float32).ravel()
        _run(texts, spec, flat, n_labels, 0, n_threads, {"logits": out})
    return out


def explain(
    text: str, spec: FeatureSpec, params: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Per unit of the text: original [start, end) and its share of each label's log-odds."""
    n_labels = params.shape[1] - 1
    flat = np.ascontiguousarray(params, dtype=np.float32).ravel()

    def kernel(data: Any, offsets: Any, tables: Any) -> Any:
        return _explain_one(
            data, 0, int(offsets[1]), tables, spec.kernel_args(), flat, 1 + n_labels, n_labels
        )

    return _call([text], kernel)


def normalize_batch(texts: Sequence[str]) -> list[tuple[str, list[int], list[int]]]:
    """Each text normalised by the engine, with the original [start, end) per character."""
    if not texts:
        return []
    out, out_off, starts, ends = _call(texts, _normalize_batch)
    return [
        (
            _decode(out[out_off[i] : out_off[i + 1]]),
            starts[out_off[i] : out_off[i + 1]].tolist(),
            ends[out_off[i] : out_off[i + 1]].tolist(),
        )
        for i in range(len(texts))
    ]


def warm() -> None:
    """Compile (or load from numba's cache) every kernel, so the first request is fast."""
    spec = FeatureSpec(word_bits=4, char_bits=4)
    params = np.ones((spec.n_features, 2), np.float32)
    logits(["warm up f*ck @you http://x"], spec, params, n_threads=1)
    transform(["warm up"], spec, params[:, 0], n_threads=1)
    document_frequency(["warm up"], spec, n_threads=1)
    explain("warm up", spec, params)
    normalize_batch(["warm up"])
