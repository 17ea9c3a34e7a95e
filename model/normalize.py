"""Text normalisation before features: Unicode, case, obfuscation folding, placeholders.

This is the readable reference: the scoring engine (model/engine.py) runs the same steps
compiled, and tests hold the two to the same output and offsets. Every step is a regex
substitution whose replacement says, for each output character,
which input characters it came from. `normalize` runs the steps plainly (fast, for
features); `normalize_with_offsets` runs the very same steps while tracking offsets, so an
explanation found in the normalised text maps back to the original characters exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

# A replacement: the new text and, per new character, the [start, end) it came from,
# relative to the match start.
Replacement = tuple[str, list[tuple[int, int]]]

URL = " URL "
USER = " @USER "

# Look-alike letters from other scripts that NFKC leaves alone.
CONFUSABLES = {
    "а": "a",
    "е": "e",
    "о": "o",
    "р": "p",
    "с": "c",
    "у": "y",
    "х": "x",
    "і": "i",
    "ѕ": "s",
    "ј": "j",
    "ԁ": "d",
    "ο": "o",
    "ι": "i",
    "α": "a",
    "ν": "v",
}

# Symbols and digits that stand for letters inside a word (sh1t, fu¢k, b!tch, a$$).
LEET = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "@": "a",
    "$": "s",
    "!": "i",
    "¢": "c",
    "€": "e",
    "£": "l",
    "|": "l",
}
# Characters that hide a letter (f*ck, sh#t): resolved against a small lexicon.
MASKS = "*#%_"
# The words masking usually hides; a masked word is folded only if exactly one fits.
MASKED_LEXICON = (
    "fuck",
    "fucking",
    "fucker",
    "fucked",
    "shit",
    "bitch",
    "bitches",
    "cunt",
    "dick",
    "asshole",
    "bastard",
    "idiot",
    "idiots",
    "stupid",
    "moron",
    "retard",
    "retarded",
    "whore",
    "slut",
    "crap",
    "piss",
    "cock",
    "dumbass",
    "jackass",
    "twat",
    "wanker",
    "motherfucker",
    "bullshit",
    "damn",
    "hell",
    "nazi",
    "scum",
    "loser",
)

_SYMBOLS = re.escape("".join(LEET) + MASKS)
# A bare "URL" is already a placeholder in some corpora (OLID): fold it the same way.
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|(?<![\w@])url(?!\w)")
_USER_RE = re.compile(r"(?<![\w@])@\w+")
# Three or more single letters separated by one space, dot or dash: "i d i o t".
_SPACED_RE = re.compile(r"(?<![\w])[a-z](?:[ .\-][a-z](?![\w])){2,}")
# A word that starts with a letter and holds at least one symbol or digit.
_WORD_RE = re.compile(
    rf"(?<![\w{_SYMBOLS}])[a-z][a-z0-9{_SYMBOLS}]*[0-9{_SYMBOLS}][a-z0-9{_SYMBOLS}]*"
)
_REPEAT_RE = re.compile(r"(.)\1{2,}")
_TRAILING_RE = re.compile(r"[^a-z0-9$]+$")


class _FoldTable(dict[int, str]):
    """str.translate table filled on first use: NFKD without accents, NFKC, casefold."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = CONFUSABLES.get(char)
        if value is None:
            decomposed = unicodedata.normalize("NFKD", char)
            kept = "".join(c for c in decomposed if not unicodedata.combining(c))
            value = unicodedata.normalize("NFKC", kept).casefold()
            value = "".join(CONFUSABLES.get(c, c) for c in value)
        self[code] = value
        return value


_FOLD = _FoldTable()


def _same_length(new: str) -> Replacement:
    return new, [(i, i + 1) for i in range(len(new))]


def _whole(new: str, length: int) -> Replacement:
    return new, [(0, length)] * len(new)


def _placeholder(value: str) -> Callable[[re.Match[str]], Replacement]:
    def replace(match: re.Match[str]) -> Replacement:
        return _whole(value, len(match.group()))

    return replace


def _join_spaced(match: re.Match[str]) -> Replacement:
    text = match.group()
    return text[::2], [(i, i + 1) for i in range(0, len(text), 2)]


def _fold_repeat(match: re.Match[str]) -> Replacement:
    text = match.group()
    return text[:2], [(0, 1), (1, len(text))]


@lru_cache(maxsize=4096)
def _unmask(core: str) -> str:
    """The one lexicon word a masked word fits, else the word unchanged."""
    pattern = re.compile("".join("[a-z]" if c in MASKS else re.escape(c) for c in core))
    fits = [word for word in MASKED_LEXICON if pattern.fullmatch(word)]
    return fits[0] if len(fits) == 1 else core


def _fold_word(match: re.Match[str]) -> Replacement:
    text = match.group()
    trailing = _TRAILING_RE.search(text)
    core = text[: trailing.start()] if trailing else text
    rest = text[len(core) :]
    # "covid19", "mp3", "2nd": digits ending a plain word, or digits outside LEET, are numbers.
    inner = core.rstrip("0123456789")
    if not any(c in LEET or c in MASKS for c in inner[1:]) and inner != core:
        return _same_length(text)
    if any(c.isdigit() and c not in LEET for c in core):
        return _same_length(text)
    folded = "".join(LEET.get(c, c) for c in core)
    if any(c in MASKS for c in folded):
        folded = _unmask(folded)
    return _same_length(folded + rest)


STEPS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Replacement]], ...] = (
    (_URL_RE, _placeholder(URL)),
    (_USER_RE, _placeholder(USER)),
    (_SPACED_RE, _join_spaced),
    (_WORD_RE, _fold_word),
    (_REPEAT_RE, _fold_repeat),
)


def _text_only(replace: Callable[[re.Match[str]], Replacement]) -> Callable[[re.Match[str]], str]:
    def text_of(match: re.Match[str]) -> str:
        return replace(match)[0]

    return text_of


_FAST_STEPS = tuple((pattern, _text_only(replace)) for pattern, replace in STEPS)


def normalize(text: str) -> str:
    """The normalised text the features see."""
    text = text.translate(_FOLD)
    for pattern, replace in _FAST_STEPS:
        text = pattern.sub(replace, text)
    return text


def _fold_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    pieces: list[str] = []
    starts: list[int] = []
    for index, char in enumerate(text):
        folded = char.translate(_FOLD)
        pieces.append(folded)
        starts.extend([index] * len(folded))
    return "".join(pieces), starts, [s + 1 for s in starts]


def _sub_with_offsets(
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], Replacement],
    text: str,
    starts: list[int],
    ends: list[int],
) -> tuple[str, list[int], list[int]]:
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        pieces.append(text[last : match.start()])
        new_starts.extend(starts[last : match.start()])
        new_ends.extend(ends[last : match.start()])
        new, sources = replace(match)
        pieces.append(new)
        base = match.start()
        new_starts.extend(starts[base + a] for a, _ in sources)
        new_ends.extend(ends[base + b - 1] for _, b in sources)
        last = match.end()
    pieces.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(pieces), new_starts, new_ends


def normalize_spans(text: str) -> tuple[str, list[int], list[int]]:
    """Normalised text with, per character, the [start, end) of the original it came from."""
    normalized, starts, ends = _fold_with_offsets(text)
    for pattern, replace in STEPS:
        normalized, starts, ends = _sub_with_offsets(pattern, replace, normalized, starts, ends)
    return normalized, starts, ends


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalised text and, per normalised character, the index of the original character."""
    normalized, starts, _ = normalize_spans(text)
    return normalized, starts
