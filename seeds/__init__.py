"""Seeds stage: raw comment threads and dumps, read and split into comments."""

from seeds.comments import Comment, Thread, comment_id
from seeds.errors import InputError

__all__ = ["Comment", "InputError", "Thread", "comment_id"]
