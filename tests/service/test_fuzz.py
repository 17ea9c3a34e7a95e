"""Fuzzing a real server on the loopback interface: schemathesis over its own OpenAPI schema,
and hypothesis bodies of hostile text (lone surrogates, NUL, bidi controls) and JSON with
NaN and Infinity. No answer is a 5xx, a valid body is scored, and the log stays clean.

The budget is FUZZ_EXAMPLES examples per test: 25 by default, derandomized so a failure
reproduces (seconds, in the normal suite); `make fuzz` runs a longer, random search.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.service.helpers import KEY, artifacts_with, start, stop

pytestmark = pytest.mark.slow

LIMITS = {
    "MODERATE_MAX_COMMENTS": "20",
    "MODERATE_MAX_COMMENT_CHARS": "300",
    "MODERATE_MAX_BODY_BYTES": "100000",
    "MODERATE_MAX_EXPLAIN_CHARS": "1000",
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# No deadline: a slow example is a slow server, which bench/ measures, not a failure here.
UNTIMED = settings(
    max_examples=EXAMPLES,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
HOSTILE = ["\x00", "\u202e", "\u202d", "\u200f", "\u061c", "\u2066", "\ufeff", "\u0301", "\uffff"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]

Server = tuple[subprocess.Popen[bytes], httpx.Client, Path]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, trained_models: tuple[Path, Path]
) -> Iterator[Server]:
    """One single-worker server for the module (a reload with several would restart them)."""
    root = artifacts_with(tmp_path_factory.mktemp("fuzz") / "artifacts", trained_models[:1])
    process, client = start(root, env=LIMITS)
    yield process, client, root.parent / "serve.log"
    stop(process, client)


def clean_log(log: Path) -> None:
    """Nothing unexpected was logged (an unhandled error is logged as `unexpected ...`)."""
    text = log.read_text(errors="replace")
    assert "unexpected" not in text and "Traceback" not in text, text[-3000:]


def test_schemathesis_finds_no_server_error(server: Server) -> None:
    _, client, log = server
    schema = schemathesis.openapi.from_url(str(client.base_url.join("/openapi.json")))
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 7  # the schema itself is valid
    for operation in operations:

        @UNTIMED
        @given(case=operation.as_strategy())
        def no_5xx(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"X-API-Key": KEY}, checks=[not_a_server_error])

        no_5xx()
    clean_log(log)


hostile_char = st.one_of(
    st.characters(codec="utf-8"), st.sampled_from(HOSTILE), st.sampled_from(SURROGATES)
)
hostile_text = st.text(hostile_char, max_size=40)
weird_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.lists(hostile_text, max_size=2),
)
comment = st.fixed_dictionaries(
    {"text": st.one_of(hostile_text, weird_value)},
    optional={"id": st.one_of(hostile_text, weird_value), "score": weird_value},
)
score_body = st.fixed_dictionaries(
    {"comments": st.one_of(st.lists(comment, max_size=4), weird_value)},
    optional={"explain": weird_value},
)
thread_body = st.fixed_dictionaries(
    {"text": st.one_of(hostile_text.map(lambda t: f"Title\n\nCOMMENTS\n\nJane Doe\n{t}\n"))},
    optional={"name": st.one_of(hostile_text, weird_value), "explain": weird_value},
)


def is_clean_text(value: Any) -> bool:
    """A string the API accepts as a comment: no lone surrogate."""
    return isinstance(value, str) and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def verdict(body: dict[str, Any]) -> str:
    """What the API must do with a generated /v1/score body: "score" it, "refuse" it, or
    "either" (pydantic's lax mode takes 0, 1 or "yes" for a bool; that is not ours to pin)."""
    comments = body["comments"]
    if not isinstance(comments, list) or not all(isinstance(c, dict) for c in comments):
        return "refuse"
    ids = [c["id"] for c in comments if c.get("id") is not None]
    if not all(is_clean_text(c["text"]) for c in comments) or not all(map(is_clean_text, ids)):
        return "refuse"
    if any(len(c["text"]) > 300 for c in comments) or any(len(i) > 200 for i in ids):
        return "refuse"
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        return "either"
    if explain and sum(len(c["text"]) for c in comments) > 1000:
        return "refuse"
    return "score"


def test_hostile_score_bodies_are_scored_or_refused_never_a_500(server: Server) -> None:
    _, client, log = server

    @UNTIMED
    @given(body=score_body)
    def answered(body: dict[str, Any]) -> None:
        raw = json.dumps(body, allow_nan=True)  # NaN/Infinity literals, \\ud800 escapes
        response = client.post(
            "/v1/score", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, raw
        expected = verdict(body)
        if expected == "refuse":
            assert response.status_code in (413, 422), raw
        if expected != "score" or response.status_code != 200:
            assert expected != "score", (raw, response.text)
            return
        scored = response.json()["comments"]
        assert len(scored) == len(body["comments"])
        for result in scored:
            assert all(0.0 <= p <= 1.0 and math.isfinite(p) for p in result["scores"].values())

    answered()
    clean_log(log)


def test_hostile_thread_pages_are_split_or_refused_never_a_500(server: Server) -> None:
    _, client, log = server

    @UNTIMED
    @given(body=thread_body)
    def answered(body: dict[str, Any]) -> None:
        raw = json.dumps(body, allow_nan=True)
        response = client.post(
            "/v1/threads:score", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, raw
        if not is_clean_text(body["text"]) or not is_clean_text(body.get("name", "thread")):
            assert response.status_code == 422, raw
        if response.status_code == 200:
            for result in response.json()["comments"]:
                assert set(result["scores"]) == {"toxic", "conspiracy"}

    answered()
    clean_log(log)
