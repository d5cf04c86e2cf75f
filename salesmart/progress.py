"""Progress of long work on stderr: bytes of a download or a COPY, days of a
load. On a terminal a rich bar per piece of work, all in one display. When
stderr is not a terminal (Airflow, CI, a pipe), plain log lines: one per day
done, and for bytes one every PLAIN_INTERVAL seconds while the work goes on,
so a quick download or COPY stays silent.

    for chunk in progress.byte_chunks(response.iter_content(65536), total, "user_order_log.csv"):
    with progress.reading(reader, total, "user_order_log.csv") as counted:
        cursor.copy_expert(sql, counted)
    for day in progress.days(days, "run"):
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Self, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

PLAIN_INTERVAL = 10.0  # seconds between plain progress lines about bytes; days get a line each

# The one rich display while any bar is shown: rich allows one live display at a time.
_display: Progress | None = None
_display_handlers: list[tuple[logging.StreamHandler, object]] = []


def on_terminal() -> bool:
    return sys.stderr.isatty()


def byte_chunks(chunks: Iterable[bytes], total: int | None, description: str) -> Iterator[bytes]:
    """Yields `chunks` unchanged, showing how many of `total` bytes (None: unknown) went by."""
    with _work(description, total, unit="bytes") as advance:
        for chunk in chunks:
            advance(len(chunk))
            yield chunk


def reading(readable, total: int | None, description: str) -> _CountedReader:
    """`readable` (read, what copy_expert's COPY FROM a file object uses), showing
    how many of `total` bytes were read; a context manager that ends the
    display however the reading ends."""
    return _CountedReader(readable, _work(description, total, unit="bytes"))


class _CountedReader:
    def __init__(self, readable, work):
        self._readable = readable
        self._work = work
        self._advance = work.__enter__()
        self._closed = False

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._readable.read(size))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._work.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _counted(self, data: bytes) -> bytes:
        if data:
            self._advance(len(data))
        else:
            self.close()  # end of input: the work is done
        return data


def days(items: Iterable[T], description: str, *, unit: str = "days") -> Iterator[T]:
    """Yields `items` (days, or the deliveries of days: say so in `unit`), showing how many of them are done."""
    items = list(items)
    with _work(description, len(items), unit=unit) as advance:
        for item in items:
            yield item
            advance(1)


@contextmanager
def _work(description: str, total: int | None, *, unit: str) -> Iterator[Callable[[int], None]]:
    if on_terminal():
        with _bar(description, total, unit) as advance:
            yield advance
    else:
        with _plain_lines(description, total, unit) as advance:
            yield advance


@contextmanager
def _bar(description: str, total: int | None, unit: str) -> Iterator[Callable[[int], None]]:
    display = _open_display()
    task = display.add_task(description, total=total, bytes=unit == "bytes")
    try:
        yield lambda amount: display.advance(task, amount)
    finally:
        display.remove_task(task)
        if not display.tasks:
            _close_display()


@contextmanager
def _plain_lines(description: str, total: int | None, unit: str) -> Iterator[Callable[[int], None]]:
    done = 0
    last_line = time.monotonic()
    interval = PLAIN_INTERVAL if unit == "bytes" else 0

    def advance(amount: int) -> None:
        nonlocal done, last_line
        done += amount
        now = time.monotonic()
        if now - last_line >= interval:
            last_line = now
            logger.info("%s: %s", description, _amount(done, total, unit))

    yield advance


def _amount(done: int, total: int | None, unit: str) -> str:
    if unit == "bytes":
        text = _size(done) + (f" of {_size(total)}" if total else "")
    else:
        text = f"{done} of {total} {unit}" if total is not None else f"{done} {unit}"
    return text + (f" ({100 * done // total}%)" if total else "")


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class _AmountColumn(DownloadColumn):
    """Bytes as sizes, days as 'n/m'."""

    def __init__(self):
        super().__init__()
        self._count = MofNCompleteColumn()

    def render(self, task):
        return super().render(task) if task.fields.get("bytes") else self._count.render(task)


def _open_display() -> Progress:
    global _display  # noqa: PLW0603 - one display per process, shared by every bar
    if _display is None:
        _display = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                            _AmountColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        _display.start()
        # Log lines written while the bars show go above them, not through them:
        # handlers that write to the terminal write through rich's stand-in for stderr.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                _display_handlers.append((handler, handler.setStream(sys.stderr)))
    return _display


def _close_display() -> None:
    global _display  # noqa: PLW0603 - one display per process, shared by every bar
    _display.stop()
    _display = None
    for handler, stream in _display_handlers:
        handler.setStream(stream)
    _display_handlers.clear()
