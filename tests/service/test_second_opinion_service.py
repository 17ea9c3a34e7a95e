"""The second opinion through the front doors, with the real encoder: `moderate score
--second-opinion` and `/v1/score` on a real server process, a refused mismatched encoder,
no network, and the same answers every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from moderate.model import second_opinion as so
from moderate.model.artifacts import load
from moderate.service.writers import read_output
from tests.encoder import needs_encoder
from tests.service.helpers import MODERATE, start, stop, with_second_opinion

pytestmark = [needs_encoder, pytest.mark.slow]
COMMENTS = [
    "You are a complete idiot and everyone knows it.",
    "The council approved the new bridge on Tuesday.",
    "They are hiding the truth about the vaccines.",
]


@pytest.fixture(scope="module")
def second_model(
    trained_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return with_second_opinion(trained_models[0], tmp_path_factory.mktemp("so") / "model")


def _mismatched(model: Path, destination: Path) -> Path:
    """A copy whose second opinion says it was trained with another encoder version."""
    import hashlib
    import shutil

    shutil.copytree(model, destination)
    described = json.loads((destination / so.FILE).read_text())
    described["encoder"]["version"] = "0.0.1"
    (destination / so.FILE).write_text(json.dumps(described))
    digest = hashlib.sha256((destination / so.FILE).read_bytes()).hexdigest()
    lines = [
        line
        for line in (destination / "SHA256SUMS").read_text().splitlines()
        if not line.endswith(so.FILE)
    ]
    (destination / "SHA256SUMS").write_text("\n".join([*lines, f"{digest}  {so.FILE}"]) + "\n")
    return destination


def _score(model: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    lines = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(COMMENTS))
    command = [
        str(MODERATE),
        "score",
        "-",
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--model",
        str(model),
        *args,
    ]
    return subprocess.run(command, input=lines, capture_output=True, text=True, timeout=240)


def test_batch_scoring_with_the_second_opinion_keeps_both_scores(
    second_model: Path, tmp_path: Path
) -> None:
    done = _score(second_model, tmp_path / "on.csv", "--second-opinion")
    assert done.returncode == 0, done.stderr
    on = read_output(tmp_path / "on.csv")
    off_done = _score(second_model, tmp_path / "off.csv")
    assert off_done.returncode == 0, off_done.stderr
    off = read_output(tmp_path / "off.csv")
    assert "toxic_first" not in off.columns
    for label in ("toxic", "conspiracy"):
        assert list(on[f"{label}_decided_by"]) == ["second_opinion"] * len(COMMENTS)
        assert on[f"{label}_first"].tolist() == pytest.approx(off[label].tolist())
    assert on["toxic"].tolist() != pytest.approx(off["toxic"].tolist())
    again = _score(second_model, tmp_path / "again.csv", "--second-opinion")
    assert again.returncode == 0
    assert read_output(tmp_path / "again.csv").equals(on)  # deterministic


def test_a_model_trained_with_another_encoder_is_refused_in_one_line(
    second_model: Path, tmp_path: Path
) -> None:
    other = _mismatched(second_model, tmp_path / "other")
    done = _score(other, tmp_path / "out.csv", "--second-opinion")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "0.0.1" in errors[0] and "retrain" in errors[0], done.stderr
    assert not (tmp_path / "out.csv").exists()
    plain = _score(other, tmp_path / "plain.csv")  # without it, the model still scores
    assert plain.returncode == 0, plain.stderr


def test_scoring_with_the_second_opinion_opens_no_socket(second_model: Path) -> None:
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from pathlib import Path\n"
        "from model.artifacts import load\n"
        "m = load(Path(sys.argv[1]))\n"
        "print(m.score(['you idiot'], second_opinion=True)[0].second_opinion['toxic'].decided_by)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(second_model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "second_opinion"


def test_one_comment_alone_or_in_a_batch_gets_the_same_second_opinion(second_model: Path) -> None:
    model = load(second_model)
    together = model.score(COMMENTS, second_opinion=True)
    alone = [load(second_model).score([text], second_opinion=True)[0] for text in COMMENTS]
    assert together == alone


def test_the_api_gives_the_second_opinion_on_request(
    second_model: Path, trained_models: tuple[Path, Path], tmp_path: Path
) -> None:
    from tests.service.helpers import artifacts_with

    artifacts = artifacts_with(tmp_path / "artifacts", [second_model])
    process, client = start(artifacts, env={"MODERATE_MAX_SECOND_OPINION_COMMENTS": "2"})
    try:
        body = {"comments": [{"text": COMMENTS[0]}], "second_opinion": True, "explain": True}
        answer = client.post("/v1/score", json=body)
        assert answer.status_code == 200, answer.text
        scored = answer.json()["comments"][0]
        opinion = scored["second_opinion"]["toxic"]
        assert opinion["decided_by"] == "second_opinion"
        assert scored["scores"]["toxic"] == opinion["second_score"]
        assert scored["spans"]["toxic"]  # the n-gram model's spans, still
        plain = client.post("/v1/score", json={"comments": [{"text": COMMENTS[0]}]}).json()
        assert plain["comments"][0]["second_opinion"] is None
        assert plain["comments"][0]["scores"]["toxic"] == pytest.approx(opinion["first_score"])
        too_many = {"comments": [{"text": t} for t in COMMENTS], "second_opinion": True}
        refused = client.post("/v1/score", json=too_many)
        assert refused.status_code == 413
        assert refused.json()["detail"]["limit"] == "max_second_opinion_comments"
        info = client.get("/v1/model").json()["second_opinion"]
        assert info["available"] is True and set(info["bands"]) == {"toxic", "conspiracy"}
    finally:
        stop(process, client)
    bare = artifacts_with(tmp_path / "bare", [trained_models[0]])
    process, client = start(bare)
    try:
        body = {"comments": [{"text": COMMENTS[0]}], "second_opinion": True}
        refused = client.post("/v1/score", json=body)
        assert refused.status_code == 409
        assert "has no second opinion" in refused.json()["detail"]["error"]
    finally:
        stop(process, client)
