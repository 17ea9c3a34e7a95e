"""Seeds stage: raw comment threads and dumps, read and split into comments."""

from importlib import resources
from pathlib import Path

from moderate.seeds.comments import Comment, Thread, comment_id
from moderate.seeds.errors import InputError

__all__ = ["Comment", "InputError", "Thread", "comment_id", "seed_threads"]


def seed_threads() -> list[Path]:
    """The project's seed threads (seeds/threads, shipped in the package), in name order."""
    return sorted(Path(str(resources.files(__name__) / "threads")).glob("*.txt"))
