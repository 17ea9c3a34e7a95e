"""Normalisation: obfuscation folding, placeholders, and offsets back to the original."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderate.model.normalize import normalize, normalize_spans, normalize_with_offsets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You are an IDIOT", "you are an idiot"),
        ("f*ck this", "fuck this"),
        ("f**k this", "fuck this"),
        ("what the fu¢k", "what the fuck"),
        ("you i d i o t", "you idiot"),
        ("you i.d.i.o.t", "you idiot"),
        ("sh1t happens", "shit happens"),
        ("h3ll0 m0r0n", "hello moron"),
        ("b!tch!", "bitch!"),
        ("stuuuuupid", "stuupid"),
        ("𝐬𝐭𝐮𝐩𝐢𝐝", "stupid"),  # mathematical bold letters (NFKC)
        ("ѕtupid", "stupid"),  # Cyrillic dze
        ("naïve café", "naive cafe"),
        ("see https://example.com/x?y=1 now", "see  URL  now"),
        ("@alice you wrote", " @USER  you wrote"),
        ("@USER said URL", " @USER  said  URL "),  # OLID's own placeholders
    ],
)
def test_folds_obfuscation_and_placeholders(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("text", ["covid19 and 5g", "mp3 win10 2nd", "4chan", "snake_case"])
def test_leaves_numbers_and_identifiers_alone(text: str) -> None:
    assert normalize(text) == text


@pytest.mark.parametrize(
    ("text", "word", "original"),
    [
        ("Well, you I D I O T!", "idiot", "I D I O T"),
        ("total f*ck up", "fuck", "f*ck"),
        ("you STUUUUPID troll", "stuupid", "STUUUUPID"),
        ("𝐬𝐭𝐮𝐩𝐢𝐝 take", "stupid", "𝐬𝐭𝐮𝐩𝐢𝐝"),
        ("ask @bob_99 now", "@USER", "@bob_99"),
        ("go to www.x.org/a now", "URL", "www.x.org/a"),
    ],
)
def test_spans_map_back_to_the_original_characters(text: str, word: str, original: str) -> None:
    normalized, starts, ends = normalize_spans(text)
    at = normalized.index(word)
    assert text[starts[at] : ends[at + len(word) - 1]] == original


def test_offsets_are_original_indices() -> None:
    normalized, offsets = normalize_with_offsets("Hi ＦＵＣＫ")  # fullwidth letters
    assert normalized == "hi fuck"
    assert offsets == [0, 1, 2, 3, 4, 5, 6]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_offset_tracking_gives_the_same_text(text: str) -> None:
    normalized, starts, ends = normalize_spans(text)
    assert normalized == normalize(text)
    assert len(starts) == len(ends) == len(normalized)
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends, strict=True))
    assert starts == sorted(starts)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz *.!$013@ ", max_size=40))
def test_obfuscation_alphabet_keeps_offsets_consistent(text: str) -> None:
    normalized, starts, _ = normalize_spans(text)
    assert normalized == normalize(text)
    assert starts == sorted(starts)
