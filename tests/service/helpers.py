"""Helpers of the service tests: the training data, artifact pointing and tampering, ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd

from model.artifacts import load
from seeds.comments import comment_id

TRAIN_CSV = Path(__file__).resolve().parent.parent / "fixtures" / "service" / "train.csv"


def dataset(rows: slice = slice(None)) -> pd.DataFrame:
    """The hand-written training comments in load_dataset's shape."""
    frame = pd.read_csv(TRAIN_CSV).iloc[rows].reset_index(drop=True)
    frame.insert(0, "id", [comment_id("fixture", i, t) for i, t in enumerate(frame["text"])])
    frame.insert(1, "source", "fixture")
    frame.insert(2, "thread", "fixture")
    return frame.astype({"toxic": float, "conspiracy": float})


def point(root: Path, name: str) -> None:
    """Point root/current at root/name, as training does."""
    link = root / "current"
    link.unlink(missing_ok=True)
    link.symlink_to(name)


def version_of(artifact: Path) -> str:
    """The version of the model in an artifact directory."""
    return load(artifact).version


def tamper(artifact: Path) -> None:
    """Change the model's weights so their sha256 no longer matches."""
    with (artifact / "weights.npz").open("ab") as file:
        file.write(b"tampered")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
