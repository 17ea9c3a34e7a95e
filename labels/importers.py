"""Importers: turn public labelled corpora, in their own formats, into store records.

Every corpus labels ONE axis, so an importer writes only that label and leaves the other
unknown. Rows stream through the csv module (physical line numbers for error messages,
no whole-file load), in batches, and re-importing adds nothing: comments are deduplicated
by id and an annotation equal to the latest one of its (comment, label, annotator) is
skipped.
"""

from __future__ import annotations

import ast
import csv
import json
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from moderate.labels.store import BATCH, LABELS, Annotation, LabelError, LabelStore, utc_now
from moderate.seeds.comments import comment_id
from moderate.seeds.errors import InputError

Record = dict[str, Any]
# A label decision for a row: 1 or 0, or the reason the row carries no usable label.
Decision = int | str
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Row:
    """One labelled text read from a corpus."""

    line: int  # physical line (1-based) where the row starts
    position: int  # 0-based index of the row in the file
    text: str
    value: Decision
    source_id: str | None = None
    meta: Mapping[str, Any] | None = None
    thread: str | None = None  # the discussion it belongs to, when not the whole file


@dataclass(frozen=True)
class Malformed:
    """A row that cannot be read at all (wrong field count, bad JSON)."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: rows read, labelled, newly written, and why rows were skipped."""

    format: str
    path: Path
    label: str
    rows: int = 0
    labelled: int = 0
    comments_added: int = 0
    annotations_added: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for humans."""
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return (
            f"{self.path.name} [{self.format} -> {self.label}]: {self.rows} rows read, "
            f"{self.labelled} labelled, {self.annotations_added} new annotations, "
            f"{self.comments_added} new comments" + (f"; skipped: {skipped}" if skipped else "")
        )


Reader = Callable[[Path, Mapping[str, Any]], Iterator[Row | Malformed]]


@dataclass(frozen=True)
class Format:
    """A corpus format: which label it gives and how to read its rows."""

    name: str
    label: str | None  # None: chosen by the user (generic)
    read: Reader
    files: tuple[str, ...] = ()  # glob patterns of the shared corpus files in this format
    help: str = ""
    # Rows are unrelated comments, not a conversation: each is its own thread, so no
    # labeller shows the row before as the comment it answers.
    standalone: bool = False


# -- low-level readers --------------------------------------------------------------------


def csv_rows(
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    errors: str = "strict",
) -> Iterator[tuple[int, int, Record] | Malformed]:
    """(start line, row index, {column: value}) per CSV row; bad rows as Malformed."""
    csv.field_size_limit(sys.maxsize)  # some Wikipedia talk comments exceed the 128 kB default
    try:
        with path.open(encoding=encoding, errors=errors, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            line = reader.line_num + 1
            for index, fields in enumerate(reader):
                if len(fields) != len(header):
                    yield Malformed(line, f"{len(fields)} fields, expected {len(header)}")
                else:
                    yield line, index, dict(zip(header, fields, strict=True))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not {encoding} text ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(str(path), f"broken CSV: {exc}") from None


def jsonl_rows(path: Path) -> Iterator[tuple[int, int, Record] | Malformed]:
    """(line, row index, object) per JSON Lines row; bad lines as Malformed."""
    with path.open(encoding="utf-8") as handle:
        index = 0
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                yield Malformed(line, f"invalid JSON: {exc}")
                continue
            if not isinstance(record, dict):
                yield Malformed(line, "not a JSON object")
                continue
            yield line, index, record
            index += 1


def _table(
    read: Callable[[Path], Iterator[tuple[int, int, Record] | Malformed]],
    text: Callable[[Record], str],
    decide: Callable[[Record], Decision],
    source_id: Callable[[Record], str | None] = lambda r: None,
    meta: Callable[[Record], Mapping[str, Any] | None] = lambda r: None,
    *,
    same_columns: bool = True,
    thread: Callable[[Record], str | None] = lambda r: None,
) -> Reader:
    """A Reader from a row reader and functions picking the text, label and extras.

    With same_columns (tables with a header), a missing column is the wrong format for
    the whole file, not a bad row.
    """

    def reader(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
        for item in read(path):
            if isinstance(item, Malformed):
                yield item
                continue
            line, index, record = item
            try:
                row = Row(
                    line,
                    index,
                    text(record),
                    decide(record),
                    source_id(record),
                    meta(record),
                    thread(record),
                )
            except KeyError as exc:
                if same_columns:
                    found = ", ".join(repr(c) for c in record)
                    raise InputError(str(path), f"no column {exc}; found {found}") from None
                yield Malformed(line, f"no field {exc}")
                continue
            except (ValueError, SyntaxError, TypeError) as exc:
                yield Malformed(line, f"unreadable row: {type(exc).__name__}: {exc}")
                continue
            yield row

    return reader


def _csv(**kwargs: Any) -> Callable[[Path], Iterator[tuple[int, int, Record] | Malformed]]:
    return lambda path: csv_rows(path, **kwargs)


def _col(name: str) -> Callable[[Record], str]:
    return lambda record: record[name]


def _mapping(column: str, table: Mapping[str, int]) -> Callable[[Record], Decision]:
    """Decide by looking a column's value up (case-insensitively); others are skipped."""
    folded = {key.casefold(): value for key, value in table.items()}

    def decide(record: Record) -> Decision:
        value = record[column].strip()
        if value.casefold() in folded:
            return folded[value.casefold()]
        return f"{column}={value or 'empty'}"

    return decide


def _at_least(column: str, threshold: float) -> Callable[[Record], Decision]:
    def decide(record: Record) -> Decision:
        raw = record[column].strip()
        if not raw:
            return f"{column} empty"
        return int(float(raw) >= threshold)

    return decide


def vote(votes: Iterable[int]) -> Decision:
    """1 or 0 by strict majority of binary votes; a tie or no vote is unknown."""
    counted = Counter(votes)
    if counted[1] == counted[0]:
        return "tie between annotators" if counted[1] else "no votes"
    return int(counted[1] > counted[0])


# -- per-corpus rules ---------------------------------------------------------------------

JIGSAW_COLUMNS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def _jigsaw(record: Record) -> Decision:
    # The full train.csv has six label columns; the shared subset folds them into `labels`.
    if "labels" in record:
        return _mapping("labels", {"1": 1, "0": 0})(record)
    return int(any(record[c].strip() == "1" for c in JIGSAW_COLUMNS))


def _davidson(record: Record) -> Decision:
    # Class 1 is "offensive language" (77 % of the corpus): mostly profanity and slurs in
    # songs, jokes and banter, which GUIDELINES.md does not call toxic without a target,
    # mixed with real insults. Left unknown, it no longer teaches "swearing = toxic" nor
    # "tweet = toxic"; leave-one-source-out improved without it (model/EXPERIMENTS.md).
    if record["class"].strip() == "1":
        return "class=1 (offensive language)"
    return _mapping("class", {"0": 1, "2": 0})(record)


def _olid(record: Record) -> Decision:
    # subtask_b UNT is offensive language aimed at nobody ("what the f*** is this"): by
    # GUIDELINES.md profanity without a target is not toxic, and OLID's annotators were
    # not asked whether it attacks anyone, so it is left unknown rather than called 0.
    if record.get("subtask_b", "").strip() == "UNT":
        return "subtask_b=UNT (untargeted)"
    return _mapping("subtask_a", {"OFF": 1, "NOT": 0})(record)


def _civil(record: Record) -> Decision:
    column = "target" if "target" in record else "toxicity"
    return _at_least(column, 0.5)(record)


def _civil_text(record: Record) -> str:
    return record["comment_text"] if "comment_text" in record else record["text"]


def _hatexplain_text(record: Record) -> str:
    tokens = ast.literal_eval(record["post_tokens"])
    return " ".join(str(token) for token in tokens)


def _hatexplain(record: Record) -> Decision:
    # 0 hate and 2 offensive are toxic, 1 normal is not; majority over the annotators.
    annotators = ast.literal_eval(record["annotators"])
    return vote(0 if label == 1 else 1 for label in annotators["label"])


def _spans_meta(record: Record) -> Mapping[str, Any]:
    offsets = sorted(set(ast.literal_eval(record["spans"])))
    ranges: list[list[int]] = []
    for offset in offsets:
        if ranges and ranges[-1][1] == offset:
            ranges[-1][1] = offset + 1
        else:
            ranges.append([offset, offset + 1])
    return {"toxic_spans": ranges}


def _wiki_context(opts: Mapping[str, Any]) -> Callable[[Record], Decision]:
    def decide(record: Record) -> Decision:
        # The small set has two ratings: label_oc (no context, as our model sees a
        # comment) and label_ic (rated with the parent shown); the large sets have `label`.
        column = opts.get("label_col") or ("label" if "label" in record else "label_oc")
        return _mapping(column, {"1": 1, "0": 0})(record)

    return decide


def read_wiki_context(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """Wikipedia talk comments rated with or without their parent comment."""
    reader = _table(_csv(), _col("text"), _wiki_context(opts), lambda r: r.get("id") or None)
    return reader(path, opts)


def read_psycomark(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """PsyCoMark: join the text and labels files row by row, majority per id."""
    text_path, labels_path = psycomark_pair(path)
    texts = _all_records(text_path)
    ids = {record.get("id") for _, _, record in texts}
    # Keep the label rows whose _id has a text; the two files then line up row by row.
    labels = [item for item in _all_records(labels_path) if item[2].get("_id") in ids]
    if len(texts) != len(labels):
        raise InputError(str(labels_path), f"{len(labels)} label rows join {len(texts)} text rows")
    votes: dict[str, list[str]] = {}
    first: dict[str, tuple[int, int, str]] = {}
    for (line, index, record), (label_line, _, label) in zip(texts, labels, strict=True):
        if record.get("id") != label.get("_id"):
            raise InputError(
                str(labels_path),
                f"row does not line up with {text_path.name}:{line} "
                f"({label.get('_id')!r} != {record.get('id')!r})",
                label_line,
            )
        votes.setdefault(record["id"], []).append(str(label.get("conspiracy")))
        first.setdefault(record["id"], (line, index, str(record.get("text") or "")))
    for source_id, answers in votes.items():
        line, index, text = first[source_id]
        yield Row(line, index, text, _psycomark_vote(answers), source_id)


def _all_records(path: Path) -> list[tuple[int, int, Record]]:
    """Every record of a JSON Lines file; a bad line stops a join that must line up."""
    records = []
    for item in jsonl_rows(path):
        if isinstance(item, Malformed):
            raise InputError(str(path), item.reason, item.line)
        records.append(item)
    return records


def _psycomark_vote(answers: list[str]) -> Decision:
    # Majority over all answers, "Can't tell" included; a winning "Can't tell" or a tie
    # is unknown, as the corpus README prescribes.
    counted = Counter(answers).most_common()
    if len(counted) > 1 and counted[0][1] == counted[1][1]:
        return "tie between annotators"
    winner = counted[0][0]
    table = {"Yes": 1, "No": 0}
    return table.get(winner, f"conspiracy={winner}")


def psycomark_pair(path: Path) -> tuple[Path, Path]:
    """The (text, labels) files of PsyCoMark from either one of them."""
    name = path.name
    if name.endswith("_text.jsonl"):
        return path, path.with_name(name.replace("_text.jsonl", "_labels.jsonl"))
    if name.endswith("_labels.jsonl"):
        return path.with_name(name.replace("_labels.jsonl", "_text.jsonl")), path
    raise InputError(str(path), "expected a *_text.jsonl or *_labels.jsonl PsyCoMark file")


def read_youtube_videos(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """youtube_videos.json: a dict of columns, each a dict video_id -> value."""
    try:
        columns = json.loads(path.read_text(encoding="utf-8"))
        titles, labels = columns["title"], columns["label"]
    except (ValueError, KeyError, TypeError) as exc:
        reason = f"expected a dict of columns with title and label: {exc}"
        raise InputError(str(path), reason) from None
    for index, (video, title) in enumerate(titles.items()):
        label = labels.get(video)
        value: Decision = {1: 1, -1: 0}.get(label, f"label={label}")
        yield Row(1, index, str(title), value, video)


def read_generic(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """Any CSV/TSV/JSON Lines file: --text-col, --label-col and --positive values."""
    text_col = opts.get("text_col") or "text"
    label_col = opts.get("label_col") or "label"
    positive = {str(v).strip().casefold() for v in opts.get("positive") or ("1",)}

    def decide(record: Record) -> Decision:
        raw = record.get(label_col)
        value = "" if raw is None else str(raw).strip()
        if not value:
            return f"{label_col} empty"
        return int(value.casefold() in positive)

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        read: Callable[[Path], Iterator[tuple[int, int, Record] | Malformed]] = jsonl_rows
    else:
        read = _csv(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")

    def text(record: Record) -> str:
        return str(record[text_col] or "")

    same_columns = read is not jsonl_rows
    return _table(read, text, decide, same_columns=same_columns)(path, opts)


# C3 crowd_toxicity_level is the mean of about five crowd ratings, 1 (not toxic) .. 4 (very
# toxic); 2 means "mildly toxic" on average. From 2 the crowd as a whole calls the comment
# at least mildly toxic (8.7 % of C3); 1.5 (one rater in two says "mildly") is 19 %, much of
# it sharp but civil argument that GUIDELINES.md calls not toxic ("mild condescension ...").
# Chosen by leave-one-source-out: see model/EXPERIMENTS.md.
C3_TOXIC_FROM = 2.0


def _c3(opts: Mapping[str, Any]) -> Callable[[Record], Decision]:
    threshold = float(opts.get("threshold") or C3_TOXIC_FROM)
    return _at_least("crowd_toxicity_level", threshold)


def read_c3(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """Globe and Mail C3: crowd toxicity level >= threshold (default 2.0) is toxic."""
    reader = _table(
        _csv(),
        _col("comment_text"),
        _c3(opts),
        lambda r: r.get("comment_counter") or None,
        lambda r: {"toxicity_characteristics": _votes(r.get("toxicity_characteristics", ""))},
        thread=lambda r: f"globe:{r['article_id']}" if r.get("article_id") else None,
    )
    return reader(path, opts)


def _votes(cell: str) -> dict[str, int]:
    """C3's "abusive:3\npersonal_attack:1" vote counts as a dict."""
    counts = {}
    for part in cell.split():
        name, _, count = part.partition(":")
        if name and count.isdigit():
            counts[name] = int(count)
    return counts


# UCC's attributes describe "unhealthy" conversation, broader than toxic. Hostile (insults,
# threats) and antagonize (provoking, trolling, taunting a person) are attacks on a person
# in the sense of GUIDELINES.md; dismissive, condescending, sarcastic and unfair
# generalisation alone are sharp but civil argument, labelled 0 here as the guidelines do.
UCC_TOXIC = ("hostile", "antagonize")


def _ucc(record: Record) -> Decision:
    values = [record[column].strip() for column in UCC_TOXIC]
    if any(v not in ("0", "1") for v in values):
        return f"{'/'.join(UCC_TOXIC)} not 0/1"
    return int("1" in values)


def _insult_text(record: Record) -> str:
    return unescape_insult(record["Comment"])


def unescape_insult(raw: str) -> str:
    """A Kaggle 2012 insults comment: strip the outer quotes, decode the escapes.

    The texts are Python-style escaped ("\\xa0", "\\n", "\\u2019"), and many encode
    UTF-8 bytes one escape per byte ("\\xc2\\xa0"), which decode to mojibake unless the
    code points below 256 are taken back as UTF-8 bytes.
    """
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "\\p" and the like stay as they are
        decoded = text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return _HIGH_BYTES.sub(_as_utf8, decoded)


_HIGH_BYTES = re.compile("[\x80-\xff]+")


def _as_utf8(match: re.Match[str]) -> str:
    """A run of code points 128-255 read back as UTF-8 bytes, when they are valid UTF-8."""
    try:
        return match.group().encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return match.group()


# Phillips et al. 2022 mark a tweet 1 when it is about a conspiracy theory, whatever its
# stance. Only a supportive stance (3) claims the theory; against (1) is debunking, 0 by
# GUIDELINES.md; neutral (2) reports or asks about a theory and is left unknown rather
# than guessed. Chosen by leave-one-source-out: see model/EXPERIMENTS.md.
PHILLIPS_STANCE = {"0": 0, "1": 0, "3": 1}


def _phillips(opts: Mapping[str, Any]) -> Callable[[Record], Decision]:
    stances = dict(PHILLIPS_STANCE)
    if opts.get("neutral") is not None:
        stances["2"] = int(opts["neutral"])

    def decide(record: Record) -> Decision:
        if record["label"].strip() == "0":
            return 0
        stance = record["stance_towards_conspiracy"].strip()
        return stances.get(stance, f"stance={stance or 'empty'}")

    return decide


PHILLIPS_TOPICS = {"0": "climate", "1": "covid origins", "2": "covid vaccine", "3": "epstein"}


def read_phillips(path: Path, opts: Mapping[str, Any]) -> Iterator[Row | Malformed]:
    """Phillips 2022 conspiracy tweets: supportive stance -> 1, against or no theory -> 0."""
    reader = _table(
        _csv(),
        _col("text"),
        _phillips(opts),
        meta=lambda r: {"topic": PHILLIPS_TOPICS.get(r["topic"].strip(), r["topic"])},
    )
    return reader(path, opts)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "jigsaw2018",
            "toxic",
            _table(_csv(), _col("comment_text"), _jigsaw, lambda r: r.get("id") or None),
            ("jigsaw2018*.csv",),
            "Jigsaw 2018 train.csv (six label columns, any 1) or the subset's `labels`",
        ),
        Format(
            "civil_comments",
            "toxic",
            _table(_csv(), _civil_text, _civil, lambda r: r.get("id") or None),
            ("civil_comments*.csv",),
            "Civil Comments / unintended-bias CSV: `target` or `toxicity` >= 0.5",
        ),
        Format(
            "davidson",
            "toxic",
            _table(_csv(), _col("tweet"), _davidson, _col("")),
            ("davidson*.csv",),
            "Davidson tweets: class 0 hate -> 1, 2 neither -> 0; 1 offensive unknown",
        ),
        Format(
            "olid",
            "toxic",
            _table(_csv(delimiter="\t"), _col("tweet"), _olid, _col("id")),
            ("olid*.tsv",),
            "OLID (tab-separated): subtask_a OFF -> 1, NOT -> 0; untargeted OFF unknown",
        ),
        Format(
            "youtoxic",
            "toxic",
            _table(
                _csv(encoding="utf-8-sig"),
                _col("Text"),
                _mapping("IsToxic", {"true": 1, "false": 0, "1": 1, "0": 0}),
            ),
            ("youtoxic*.csv",),
            "YouToxic (UTF-8 with BOM): IsToxic",
        ),
        Format(
            "ethos",
            "toxic",
            _table(_csv(delimiter=";"), _col("comment"), _at_least("isHate", 0.5)),
            ("ethos*.csv",),
            "ETHOS binary (';'-separated): isHate >= 0.5",
        ),
        Format(
            "wiki_context",
            "toxic",
            read_wiki_context,
            ("wiki_context*.csv",),
            "Wikipedia talk with context: `label`, or label_oc (--label-col label_ic)",
        ),
        Format(
            "toxic_spans",
            "toxic",
            _table(_csv(), _col("text"), lambda r: 1, meta=_spans_meta),
            ("civil_toxic_spans*.csv",),
            "Toxic spans (positives only): every row toxic; spans kept as gold rationales",
        ),
        Format(
            "stormfront",
            "toxic",
            _table(
                _csv(),
                _col("text"),
                _mapping("label", {"hate": 1, "noHate": 0}),
                _col("file_id"),
            ),
            ("stormfront*.csv",),
            "Stormfront sentences: hate -> 1, noHate -> 0; relation and idk/skip dropped",
        ),
        Format(
            "hatexplain",
            "toxic",
            _table(_csv(), _hatexplain_text, _hatexplain, _col("id")),
            ("hatexplain*.csv",),
            "HateXplain: post_tokens joined; majority of annotators (hate/offensive -> 1)",
        ),
        Format(
            "globe_c3",
            "toxic",
            read_c3,
            ("globe_c3*.csv",),
            "Globe and Mail C3: crowd_toxicity_level >= 2.0 (--threshold) -> 1",
        ),
        Format(
            "globe_ucc",
            "toxic",
            _table(_csv(), _col("comment"), _ucc, lambda r: r.get("_unit_id") or None),
            ("globe_ucc*.csv",),
            "Globe and Mail UCC: hostile or antagonize -> 1; other attributes -> 0",
            standalone=True,
        ),
        Format(
            "impermium",
            "toxic",
            _table(_csv(), _insult_text, _mapping("Insult", {"1": 1, "0": 0})),
            ("impermium_insults*.csv",),
            "Kaggle 2012 insults (escaped, quoted text): Insult 1 -> 1, 0 -> 0",
            standalone=True,
        ),
        Format(
            "psycomark",
            "conspiracy",
            read_psycomark,
            ("psycomark*_text.jsonl",),
            "PsyCoMark text + labels JSONL joined row by row; majority, Can't tell/ties unknown",
        ),
        Format(
            "mediaeval2020",
            "conspiracy",
            _table(_csv(), _col("Text"), _mapping("Label", {"1": 1, "2": 1, "3": 0}), _col("ID")),
            ("mediaeval2020*.csv",),
            "MediaEval 2020 5G tweets: Label 1 (5G) or 2 (other) -> 1, 3 -> 0",
        ),
        Format(
            "covid_vaccine",
            "conspiracy",
            _table(_csv(errors="replace"), _col("comments"), _mapping("label", {"1": 1, "0": 0})),
            ("covid_vaccine*.csv",),
            "COVID vaccine comments (mixed encoding, replaced): label",
        ),
        Format(
            "youtube_videos",
            "conspiracy",
            read_youtube_videos,
            ("youtube_videos*.json",),
            "YouTube videos JSON (dict of columns): title; label 1 -> 1, -1 -> 0",
        ),
        Format(
            "pan2024",
            "conspiracy",
            _table(
                _csv(delimiter="\t"),
                _col("text"),
                _mapping("label", {"CONSPIRACY": 1, "CRITICAL": 0}),
                # The shortest-100 sample keeps PAN's `id`; the full training set has `row`.
                lambda r: r.get("id") or r.get("row") or None,
            ),
            ("pan2024*.tsv",),
            "PAN 2024 (tab-separated): CONSPIRACY -> 1, CRITICAL -> 0",
        ),
        Format(
            "phillips2022",
            "conspiracy",
            read_phillips,
            ("twitter_conspiracy_phillips*.csv",),
            "Phillips 2022 tweets: stance 3 supportive -> 1; 1 against, label 0 -> 0; "
            "2 neutral unknown (--neutral 0|1)",
        ),
        Format(
            "generic",
            None,
            read_generic,
            (),
            "Any CSV/TSV/JSONL: --label, --text-col, --label-col, --positive",
        ),
    )
}


# -- importing ----------------------------------------------------------------------------


def import_file(fmt: str, path: Path, store: LabelStore, **opts: Any) -> ImportReport:
    """Import one corpus file in format `fmt` into the store; idempotent and streaming.

    Options: label (generic: toxic or conspiracy), text_col, label_col, positive
    (a sequence of values meaning 1; other non-empty values mean 0).
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise LabelError(f"unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}")
    label = spec.label or opts.get("label")
    if label not in LABELS:
        raise LabelError(f"format {fmt} needs --label {' or '.join(LABELS)}")
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file" if not path.exists() else "not a file")
    report = ImportReport(fmt, path, label)
    origin = f"import:{fmt}"
    now = utc_now()
    rows = spec.read(path, opts)
    while batch := list(islice(rows, BATCH)):
        comments, annotations = [], []
        for row in batch:
            if isinstance(row, Malformed):
                report.skipped["malformed"] += 1
                _problem(report, f"{path}:{row.line}: {row.reason}")
                continue
            report.rows += 1
            if not row.text.strip():
                report.skipped["empty text"] += 1
                continue
            if isinstance(row.value, str):
                report.skipped[row.value] += 1
                continue
            cid = comment_id(path.name, row.position, row.text)
            comments.append(_comment(cid, spec, path, row))
            annotations.append(Annotation(cid, label, row.value, origin, now, origin))
            report.labelled += 1
        report.comments_added += store.add_comments(comments)
        report.annotations_added += store.annotate(annotations, skip_same=True)
    return report


def _comment(cid: str, spec: Format, path: Path, row: Row) -> Record:
    thread = f"{path.stem}:{row.position}" if spec.standalone else path.stem
    record: Record = {
        "id": cid,
        "source": spec.name,
        "thread": row.thread or thread,
        "position": row.position,
        "text": row.text,
    }
    if row.source_id:
        record["source_id"] = row.source_id
    if row.meta:
        record["meta"] = dict(row.meta)
    return record


def _problem(report: ImportReport, message: str) -> None:
    if len(report.problems) < MAX_PROBLEMS:
        report.problems.append(message)


# Shared corpus files whose rows all appear in another file beside them: importing both
# would count those rows twice (under different ids, as the file is part of the id).
SUBSET_OF = {"pan2024_train_shortest100.tsv": "pan2024_en_train.tsv"}


def corpus_files(corpora_dir: Path) -> list[tuple[str, Path]]:
    """Every (format, file) of a corpora directory that a known format reads.

    A known subset of another file found beside it is left out (see SUBSET_OF).
    """
    found: dict[Path, str] = {}
    for name, spec in FORMATS.items():
        for pattern in spec.files:
            for path in sorted(Path(corpora_dir).rglob(pattern)):
                found.setdefault(path, name)
    for path in list(found):
        whole = SUBSET_OF.get(path.name)
        if whole is not None and path.with_name(whole) in found:
            del found[path]
    return sorted(((fmt, path) for path, fmt in found.items()), key=lambda item: item[1])


def detect_format(path: Path) -> str:
    """The format of a shared corpus file, from its name; LabelError when unknown."""
    for name, spec in FORMATS.items():
        if any(Path(path).match(pattern) for pattern in spec.files):
            return name
    raise LabelError(f"{path}: cannot tell its format from the name; give --format")


def import_corpora(corpora_dir: Path, store: LabelStore) -> list[ImportReport]:
    """Import every corpus file found under corpora_dir with its format."""
    files = corpus_files(corpora_dir)
    if not files:
        raise InputError(str(corpora_dir), "no known corpus file found")
    return [import_file(fmt, path, store) for fmt, path in files]
