"""Progress of downloads, COPY and day loops, as plain log
lines off a terminal and as one rich display on it; the data passes unchanged."""
from __future__ import annotations

import io
import logging
import sys
from datetime import date

import pytest

from salesmart import progress

DAYS = [date(2024, 12, 30), date(2024, 12, 31), date(2025, 1, 1)]


@pytest.fixture
def plain(monkeypatch, caplog):
    """Off a terminal, with a line at every step (the interval is for slow work only)."""
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0)
    caplog.set_level(logging.INFO, logger=progress.__name__)
    return caplog


def lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == progress.__name__]


def test_byte_chunks_pass_through_and_log_their_share(plain):
    chunks = [b"a" * 1024, b"b" * 1024, b"c" * 2048]
    assert list(progress.byte_chunks(iter(chunks), 4096, "user_order_log.csv")) == chunks
    assert lines(plain) == ["user_order_log.csv: 1.0 KB of 4.0 KB (25%)",
                            "user_order_log.csv: 2.0 KB of 4.0 KB (50%)",
                            "user_order_log.csv: 4.0 KB of 4.0 KB (100%)"]


def test_byte_chunks_of_unknown_length(plain):
    assert list(progress.byte_chunks([b"x" * 100], None, "price_log.csv")) == [b"x" * 100]
    assert lines(plain) == ["price_log.csv: 100 B"]


def test_plain_lines_wait_for_the_interval(monkeypatch, caplog):
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    caplog.set_level(logging.INFO, logger=progress.__name__)
    assert b"".join(progress.byte_chunks([b"x"] * 1000, 1000, "quick.csv")) == b"x" * 1000
    assert lines(caplog) == []  # quick work says nothing


def test_days_log_each_day_done(plain):
    assert list(progress.days(DAYS, "run")) == DAYS
    assert lines(plain) == ["run: 1 of 3 days (33%)", "run: 2 of 3 days (66%)", "run: 3 of 3 days (100%)"]


def test_reading_counts_what_copy_reads(plain):
    source = io.BytesIO(b"1,first\n2,second\n")
    with progress.reading(source, 17, "landing") as counted:
        assert counted.read(8) == b"1,first\n"
        assert counted.read(100) == b"2,second\n"
        assert counted.read(100) == b""
    assert lines(plain) == ["landing: 8 B of 17 B (47%)", "landing: 17 B of 17 B (100%)"]


def test_on_a_terminal_nested_work_shares_one_display_and_logging_comes_back(monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(handler)
    try:
        seen = []
        for day in progress.days(DAYS, "days"):
            display = progress._display
            with progress.reading(io.BytesIO(b"x" * 10), 10, f"{day}.csv") as counted:
                counted.read()
                for _ in progress.byte_chunks([b"y" * 5], 5, "download"):
                    seen.append((progress._display is display, len(display.tasks)))
            assert handler.stream is not sys.__stderr__  # log lines go above the bars
        assert seen == [(True, 3)] * len(DAYS)
        assert progress._display is None
        assert handler.stream is sys.__stderr__
    finally:
        logging.getLogger().removeHandler(handler)


def test_copy_reads_through_the_wrapper(plain, db):
    rows = "".join(f"{line},item {line}\n" for line in range(1, 1001)).encode()
    with db.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE landed (line_no int, item_name text)")
        with progress.reading(io.BytesIO(rows), len(rows), "price_log.csv") as counted:
            cursor.copy_expert("COPY landed FROM STDIN WITH (FORMAT csv)", counted)
        cursor.execute("SELECT count(*), max(line_no), min(item_name) FROM landed")
        assert cursor.fetchone() == (1000, 1000, "item 1")
    assert lines(plain)[-1] == f"price_log.csv: {len(rows) / 1024:.1f} KB of {len(rows) / 1024:.1f} KB (100%)"
