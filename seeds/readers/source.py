"""Opening a dump: transparent gzip, format detection, and decoding that counts bad bytes."""

from __future__ import annotations

import codecs
import gzip
import io
import re
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from moderate.seeds.errors import InputError

STDIN = "-"
FORMATS = ("thread", "jsonl", "csv", "tsv", "parquet", "disqus", "wxr")
EXTENSIONS = {
    ".txt": "thread",
    ".text": "thread",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xml": "xml",
    ".wxr": "xml",
}
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 8192
BINARY = "binary file, not a supported comment source"
# Control bytes that never occur in text; a head with many of them is binary.
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOT_TAG = re.compile(r"<([A-Za-z_][\w.:-]*)")
_PROLOG = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", re.S)


def source_name(path: Path) -> str:
    """The file's base name without `.gz`: stable across machines and across compression."""
    name = path.name
    return name[:-3] if name.lower().endswith(".gz") else name


def is_stream(path: str | Path) -> bool:
    """`-` (stdin), a pipe, a FIFO or a terminal: readable once, so it is opened only once."""
    if str(path) == STDIN:
        return True
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def open_stream(path: Path) -> tuple[bytes, IO[bytes]]:
    """Open a stream input once: its first HEAD_BYTES (decompressed) and all its bytes."""
    owned = str(path) != STDIN
    raw = _open_raw(path) if owned else sys.stdin.buffer
    try:
        magic = _read_ahead(raw, len(GZIP_MAGIC))
        source: IO[bytes] = io.BufferedReader(_Replay(magic, raw, *([raw] if owned else [])))
        decoded = cast(IO[bytes], gzip.GzipFile(fileobj=source)) if magic == GZIP_MAGIC else source
        head = _read_ahead(decoded, HEAD_BYTES)
    except (OSError, EOFError) as error:
        raise InputError(str(path), f"cannot read: {error}") from error
    closing = [decoded] if decoded is source else [decoded, source]
    return head, io.BufferedReader(_Replay(head, decoded, *closing))


class _Replay(io.RawIOBase):
    """A stream whose first bytes were read ahead: gives them again, then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes], *owned: IO[bytes]) -> None:
        self.head = head
        self.rest = rest
        self.owned = owned  # closed with this stream
        self.at = 0

    def readable(self) -> bool:
        """Always."""
        return True

    def readinto(self, buffer: Any) -> int:
        """The next bytes: what is left of the head, else whatever the stream has ready."""
        if self.at < len(self.head):
            data = self.head[self.at : self.at + len(buffer)]
            self.at += len(data)
        else:
            data = getattr(self.rest, "read1", self.rest.read)(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the streams this one owns."""
        if not self.closed:
            for stream in self.owned:
                stream.close()
        super().close()


def _read_ahead(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < size and (chunk := stream.read(size - got)):
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic number (whatever its name)."""
    with _open_raw(path) as raw:
        return raw.read(2) == GZIP_MAGIC


def open_bytes(path: Path) -> IO[bytes]:
    """Open for binary reading, decompressing gzip transparently."""
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return _open_raw(path)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` (decompressed) bytes of the file."""
    try:
        with open_bytes(path) as stream:
            return stream.read(size)
    except (OSError, EOFError) as error:
        raise InputError(str(path), f"cannot read: {error}") from error


def is_binary(head: bytes) -> bool:
    """NUL bytes or mostly control bytes: an image, an archive, not text."""
    if b"\x00" in head:
        return True
    control = sum(1 for byte in head if byte in _CONTROL)
    return control > len(head) * 0.3


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The dump format of a file, by extension (after `.gz`) and a sniff of its head."""
    path = Path(path)
    head = read_head(path) if head is None else head
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if is_binary(head):
        raise InputError(str(path), BINARY)
    ext = Path(source_name(path)).suffix.lower()
    fmt = EXTENSIONS.get(ext)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if fmt == "parquet":
        raise InputError(str(path), "not a Parquet file (no PAR1 magic number)")
    if fmt == "xml" or (fmt is None and start == b"<"):
        return _xml_kind(path, head)
    if fmt is None and start == b"{":
        return "jsonl"
    if fmt is None:
        raise InputError(
            str(path),
            f"unknown comment source (extension {ext or 'none'!r}); "
            f"give its format, one of: {', '.join(FORMATS)}",
        )
    if fmt == "jsonl" and start == b"[":
        raise InputError(
            str(path),
            "a JSON array, not JSON Lines (one object per line); convert it: jq -c '.[]'",
        )
    return fmt


def declared_encoding(path: Path, head: bytes) -> str:
    """The encoding an XML declaration names, UTF-8 when none."""
    match = _DECLARED_ENCODING.match(head.removeprefix(b"\xef\xbb\xbf"))
    if match is None:
        return "utf-8-sig"
    name = match.group(1).decode("ascii")
    try:
        codecs.lookup(name)
    except LookupError as error:
        raise InputError(str(path), f"unknown XML encoding {name!r}", line=1) from error
    return "utf-8-sig" if codecs.lookup(name).name == "utf-8" else name


class ReplaceCounter:
    """A codec error handler: replace undecodable bytes with U+FFFD and count them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def __call__(self, error: UnicodeError) -> tuple[str, int]:
        """Replace one run of bad bytes."""
        if not isinstance(error, UnicodeDecodeError):
            raise error
        self.count += error.end - error.start
        return "\ufffd", error.end


# Codec error handlers live in a process-wide registry that cannot forget a name, so
# counters are pooled and reused instead of registering one per file.
_pool: list[ReplaceCounter] = []
_pool_lock = threading.Lock()
_registered = 0


@contextmanager
def replace_counter() -> Iterator[ReplaceCounter]:
    """A fresh counting error handler; pass its `.name` as `errors=` to any decoder."""
    global _registered
    with _pool_lock:
        if _pool:
            counter = _pool.pop()
        else:
            _registered += 1
            counter = ReplaceCounter(f"moderate-replace-{_registered}")
            codecs.register_error(counter.name, counter)
    counter.count = 0
    try:
        yield counter
    finally:
        with _pool_lock:
            _pool.append(counter)


def open_text(
    path: Path, errors: str, newline: str | None = None, encoding: str = "utf-8-sig"
) -> io.TextIOWrapper:
    """A streaming text view of the (maybe gzipped) file; bad bytes go to `errors`."""
    return io.TextIOWrapper(open_bytes(path), encoding=encoding, errors=errors, newline=newline)


def _open_raw(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError as error:
        raise InputError(str(path), "no such file") from error
    except IsADirectoryError as error:
        raise InputError(str(path), "is a directory, not a comment dump") from error
    except OSError as error:
        raise InputError(str(path), f"cannot open: {error.strerror or error}") from error


def _xml_kind(path: Path, head: bytes) -> str:
    text = _PROLOG.sub("", head.decode("utf-8", "replace"))
    match = _ROOT_TAG.search(text)
    root = match.group(1).rsplit(":", 1)[-1] if match else ""
    if root == "disqus":
        return "disqus"
    if root == "rss" and "wordpress.org/export/" in text:
        return "wxr"
    found = f"<{root}>" if root else "no root element"
    raise InputError(
        str(path),
        f"XML with {found}: neither a Disqus export (<disqus>) "
        "nor a WordPress WXR export (<rss> with the wp: namespace)",
    )
