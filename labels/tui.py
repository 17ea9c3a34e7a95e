"""The terminal loop of `moderate label`: draw one task, read one key, tell the session."""

from __future__ import annotations

import contextlib
import os
import select
import termios
import tty
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from moderate.labels.session import Session, Task
from moderate.labels.store import LABELS, Value

KEYS: tuple[tuple[str, str], ...] = (
    ("t", "toggle toxic"),
    ("c", "toggle conspiracy"),
    ("enter", "accept: save the toggled state (each label 1 if on, 0 if off)"),
    ("", "toggles start off: the suggestion is a hint, never a default answer"),
    ("n", "neither: toxic 0, conspiracy 0"),
    ("u", "unsure: both labels 'unsure'"),
    ("s", "skip: leave it for a later session"),
    ("z", "undo the last answer (it comes back to be labelled)"),
    ("q", "quit (every answer is already saved; the next session resumes)"),
    ("?", "this help"),
)
HINT = (
    "t toxic · c conspiracy · enter accept · n neither · u unsure · s skip · z undo · q quit"
    " · ? help"
)
TOGGLES = {"t": "toxic", "c": "conspiracy"}
ReadKey = Callable[[], str]


@dataclass
class Summary:
    """What a session did, for the closing line."""

    answered: int
    skipped: int
    done: int
    total: int


@contextlib.contextmanager
def raw_keys(fd: int) -> Iterator[ReadKey]:
    """Read single keys from a terminal in cbreak mode; the mode is restored on exit."""
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield lambda: read_key(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_key(fd: int) -> str:
    """One key press: a character, "enter", "escape", or "q" at end of input."""
    byte = os.read(fd, 1)
    if byte in (b"", b"\x04"):
        return "q"
    if byte in (b"\r", b"\n"):
        return "enter"
    if byte == b"\x1b":
        while select.select([fd], [], [], 0.02)[0]:  # swallow the rest of an escape sequence
            os.read(fd, 16)
        return "escape"
    return byte.decode("utf-8", errors="replace").lower()


def run(
    session: Session,
    console: Console,
    keys: ReadKey,
    guidelines: Mapping[str, str],
    notes: Sequence[str] = (),
) -> Summary:
    """Label until the stream is empty or the annotator quits; return what was done."""
    tasks = session.stream()
    task = next(tasks, None)
    state = _fresh()
    status = "; ".join([*notes, *(f"skipped invalid line {p}" for p in session.problems)])
    while True:
        _draw(console, session, task, state, status, guidelines)
        key = keys()
        status = ""
        if key == "q":
            break
        if key == "?":
            _draw_help(console, guidelines)
            keys()
        elif key == "z":
            undone = session.undo(current=task.id if task else None)
            status = f"undone: {undone}" if undone else "nothing to undo"
            if undone:
                tasks = session.stream()  # a finished generator does not see the requeue
                task, state = next(tasks, None), _fresh()
        elif task is None:
            status = "all done: z undoes the last answer, q quits"
        elif key in TOGGLES:
            state[TOGGLES[key]] = 1 - int(state[TOGGLES[key]] or 0)
        elif key in ("enter", "n", "u"):
            values = _values(key, state)
            session.answer(task.id, values)
            status = "saved " + " ".join(f"{label}={value}" for label, value in values.items())
            task, state = next(tasks, None), _fresh()
        elif key == "s":
            session.skip(task.id)
            status = f"skipped {task.id}"
            task, state = next(tasks, None), _fresh()
        else:
            status = f"unknown key {key!r}: press ? for help"
    return Summary(session.answered, session.skipped, session.done, session.total)


def _values(key: str, state: Mapping[str, Value]) -> dict[str, Value]:
    if key == "n":
        return dict.fromkeys(LABELS, 0)
    if key == "u":
        return dict.fromkeys(LABELS, "unsure")
    return dict(state)


def _fresh() -> dict[str, Value]:
    # Toggles start off, not at the suggestion: pre-filled answers anchor the annotator.
    return dict.fromkeys(LABELS, 0)


def _draw(
    console: Console,
    session: Session,
    task: Task | None,
    state: Mapping[str, Value],
    status: str,
    guidelines: Mapping[str, str],
) -> None:
    console.clear()
    console.print(_progress(session))
    if task is None:
        left = session.total - session.done
        ended = (
            f"No more comments in this session ({left} left unlabelled)."
            if left
            else "All comments are labelled."
        )
        console.print(Panel(Text(f"{ended} z undo · q quit"), title="done"))
    else:
        console.print(_task_view(task, state, guidelines))
    if status:
        console.print(Text(status, style="yellow"))


def _progress(session: Session) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        Text(f"annotator {session.annotator}", style="bold"),
        ProgressBar(total=max(session.total, 1), completed=session.done, width=30),
        Text(f"{session.done}/{session.total} done"),
    )
    return grid


def _task_view(
    task: Task, state: Mapping[str, Value], guidelines: Mapping[str, str]
) -> RenderableType:
    context = Text()
    context.append("title: ", style="bold")
    context.append(task.title or "(no title)")
    context.append("\nprevious: ", style="bold")
    context.append(_shorten(task.previous) if task.previous else "(first comment)")
    parts: list[RenderableType] = [
        Panel(context, title=f"thread {task.comment.get('thread')}", title_align="left"),
        Panel(Text(task.comment["text"]), title=f"comment {task.id}", title_align="left"),
        _suggestion(task),
    ]
    for label in LABELS:
        mark = "[x]" if state[label] == 1 else "[ ]"
        line = Text(f"{mark} {label}", style="bold green" if state[label] == 1 else "bold")
        line.append(f"  {guidelines.get(label, '')}", style="dim")
        parts.append(line)
    parts.append(Text(HINT))
    return Group(*parts)


def _suggestion(task: Task) -> Text:
    text = Text()
    text.append("suggestion: ", style="bold")
    for label in LABELS:
        vote = task.suggestion.rules.get(label)
        shown = "-" if vote is None else str(vote)
        fired = ", ".join(task.suggestion.fired.get(label, [])) or "no rule"
        text.append(f"{label} {shown} ({fired})  ")
    if task.suggestion.model is not None:
        scores = " ".join(f"{label} {p:.2f}" for label, p in task.suggestion.model.items())
        text.append(f"model: {scores}")
    return text


def _draw_help(console: Console, guidelines: Mapping[str, str]) -> None:
    console.clear()
    table = Table(title="keys", show_header=False)
    for key, meaning in KEYS:
        table.add_row(key, meaning)
    console.print(table)
    for label, summary in guidelines.items():
        console.print(Text.assemble((f"{label}: ", "bold"), summary))
    console.print("Full guidelines: labels/GUIDELINES.md. Press any key to go back.")


def _shorten(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
