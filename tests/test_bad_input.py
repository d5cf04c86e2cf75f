"""Bad input through `python -m salesmart load-dir`: a clear error naming the
file, line and column, a non-zero exit, a failed load-log row, and nothing
else changed. And the inputs that look odd but are fine: an unknown extra
column, the old format without `status`, CRLF / LF and quoted fields, a
header-only file, an order dated another day."""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from itertools import cycle
from pathlib import Path

import psycopg2
import pytest

from model import Model
from salesmart import files, pipeline
from salesmart.dev.generate import generate
from salesmart.files import FILE_KINDS, BadInput, ValidatingReader
from sql_loading import DATA_TABLES, rows, snapshot

# The CLI runner and the warehouse-versus-model comparison of the pipeline tests.
from test_pipeline import assert_warehouse_is, cli, cli_env

START = date(2025, 3, 3)
REPORT_DAYS = 3
DAY = date(2025, 3, 6)
FILES = ("customer_research_inc.csv", "price_log_inc.csv", "user_activity_log_inc.csv", "user_order_log_inc.csv")
ORDERS = "user_order_log_inc.csv"

# Columns of the generated order log.
ID, UNIQ_ID, DATE_TIME, CITY_ID, CITY_NAME, CUSTOMER_ID, FIRST_NAME, LAST_NAME, ITEM_ID, ITEM_NAME, QUANTITY, \
    PAYMENT_AMOUNT, STATUS = range(13)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    generate(root, days=1, orders_per_day=20, seed=5, start=START, report_days=REPORT_DAYS)
    return root


@pytest.fixture
def reported(dataset, dsn, tmp_path) -> Path:
    """The valid report loaded; returns the report folder."""
    folder = tmp_path / "report-only"
    folder.mkdir()
    os.symlink(dataset / "report", folder / "report")
    pipeline.load_dir(dsn, folder)
    return dataset / "report"


def increment_folder(dataset: Path, root: Path, replace: dict[str, bytes] | None = None) -> Path:
    """root/increments/DAY/: the valid increment, with some files replaced; returns root."""
    folder = root / "increments" / DAY.isoformat()
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copy(dataset / "increments" / DAY.isoformat() / name, folder / name)
    for name, content in (replace or {}).items():
        (folder / name).write_bytes(content)
    return root


def lines_of(dataset: Path, name: str) -> list[str]:
    """Lines of a valid increment file, without line ends."""
    return (dataset / "increments" / DAY.isoformat() / name).read_text(encoding="utf-8").splitlines()


def crlf(lines: list[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("utf-8")


def with_field(lines: list[str], line_no: int, column: int, value: str) -> list[str]:
    """`lines` with one field of physical line `line_no` (header = 1) set to `value`."""
    fields = lines[line_no - 1].split(",")
    fields[column] = value
    return lines[:line_no - 1] + [",".join(fields)] + lines[line_no:]


# ---------------------------------------------------------------- bad input ----

@dataclass(frozen=True)
class Bad:
    file: str
    content: Callable[[list[str]], bytes]  # the file's valid lines -> its corrupt bytes
    line: int
    column: str | None


def _drop_customer_id(lines: list[str]) -> bytes:
    return crlf([",".join(field for index, field in enumerate(line.split(",")) if index != CUSTOMER_ID)
                 for line in lines])


def _non_utf8(lines: list[str]) -> bytes:
    content = bytearray(crlf(lines[:3]))
    content += crlf([lines[3]]).replace(b",", b",Zo\xeb ", 1)  # latin-1, not UTF-8, on line 4
    return bytes(content) + crlf(lines[4:])


def _duplicate_payment_amount(lines: list[str]) -> bytes:
    """A second payment_amount column at the end: neither copy may silently win."""
    return crlf([lines[0] + ",payment_amount"] + [line + ",99999" for line in lines[1:]])


def with_order_field(lines: list[str], line_no: int, column: int, value: str) -> list[str]:
    """`lines` with one field set to `value` on every copy of the order on physical line `line_no`."""
    order = lines[line_no - 1].split(",")[UNIQ_ID]
    return [",".join(value if index == column else field for index, field in enumerate(line.split(",")))
            if number > 1 and line.split(",")[UNIQ_ID] == order else line
            for number, line in enumerate(lines, start=1)]


def _unclosed_quote(lines: list[str]) -> bytes:
    """A quote opened in a field of line 7 and never closed, in a file long enough that the csv module
    gives up only about a thousand lines later (its field limit is 131072 characters)."""
    opened = _quoted(lines[6], '"Anne')
    repeats = 150_000 // len("".join(lines[1:])) + 1
    return crlf(lines[:6] + [opened] + lines[7:] + lines[1:] * repeats)


def _quoted(line: str, first_name: str = '"Anne, Marie"') -> str:
    fields = line.split(",")
    fields[FIRST_NAME] = first_name
    return ",".join(fields)


BAD_INPUTS = {
    "missing required column": Bad(ORDERS, _drop_customer_id, 1, "customer_id"),
    "not an int": Bad(ORDERS, lambda lines: crlf(with_field(lines, 5, ITEM_ID, "3x")), 5, "item_id"),
    "not a number": Bad(ORDERS, lambda lines: crlf(with_field(lines, 6, PAYMENT_AMOUNT, "12.3.4")), 6,
                        "payment_amount"),
    "not a number in research": Bad("customer_research_inc.csv",
                                    lambda lines: crlf(with_field(lines, 4, 4, "n/a")), 4, "sales_amt"),
    "not a number in price_log": Bad("price_log_inc.csv", lambda lines: crlf(with_field(lines, 3, 1, "cheap")),
                                     3, "price"),
    "bad timestamp": Bad(ORDERS, lambda lines: crlf(with_field(lines, 7, DATE_TIME, "2025-02-30T00:00:00")), 7,
                         "date_time"),
    "bad timestamp in activity": Bad("user_activity_log_inc.csv",
                                     lambda lines: crlf(with_field(lines, 3, 2, "06/03/2025")), 3, "date_time"),
    "unknown status": Bad(ORDERS, lambda lines: crlf(with_field(lines, 8, STATUS, "cancelled")), 8, "status"),
    "negative quantity": Bad(ORDERS, lambda lines: crlf(with_field(lines, 9, QUANTITY, "-2")), 9, "quantity"),
    "negative amount": Bad(ORDERS, lambda lines: crlf(with_field(lines, 10, PAYMENT_AMOUNT, "-180")), 10,
                           "payment_amount"),
    "negative price": Bad("price_log_inc.csv", lambda lines: crlf(with_field(lines, 2, 1, "-5")), 2, "price"),
    "empty value": Bad(ORDERS, lambda lines: crlf(with_field(lines, 12, CUSTOMER_ID, "")), 12, "customer_id"),
    "no header": Bad(ORDERS, lambda lines: crlf(lines[1:]), 1, None),
    "empty file": Bad("user_activity_log_inc.csv", lambda lines: b"", 1, None),
    "not UTF-8": Bad(ORDERS, _non_utf8, 4, None),
    "too many fields": Bad(ORDERS, lambda lines: crlf(lines[:10] + [lines[10] + ",x"] + lines[11:]), 11, None),
    # Python would take these, PostgreSQL would not: the error must still name line and column.
    "non-ASCII digits": Bad(ORDERS, lambda lines: crlf(with_field(lines, 5, ITEM_ID, "\u0661\u0662")), 5, "item_id"),
    "underscored number": Bad(ORDERS, lambda lines: crlf(with_field(lines, 6, PAYMENT_AMOUNT, "1_000")), 6,
                              "payment_amount"),
    "ISO week date": Bad(ORDERS, lambda lines: crlf(with_field(lines, 7, DATE_TIME, "2025-W10-4")), 7,
                         "date_time"),
    "too few fields": Bad("customer_research_inc.csv",
                          lambda lines: crlf(lines[:4] + [lines[4].rsplit(",", 1)[0]] + lines[5:]), 5, None),
    # Header and byte defects.
    "duplicated column": Bad(ORDERS, _duplicate_payment_amount, 1, "payment_amount"),
    "NUL byte": Bad(ORDERS, lambda lines: crlf(with_field(lines, 6, FIRST_NAME, "Ann\0e")), 6, "first_name"),
    "NUL byte in the line number": Bad(ORDERS, lambda lines: crlf(with_field(lines, 4, ID, "3\0")), 4, "id"),
    "NUL byte in price_log": Bad("price_log_inc.csv", lambda lines: crlf(with_field(lines, 3, 0, "Gel\0pen")), 3,
                                 "item_name"),
    # Values PostgreSQL refuses while it COPYs: the error still names file, line and column.
    "integer out of range": Bad(ORDERS, lambda lines: crlf(with_field(lines, 5, CITY_ID, "99999999999")), 5,
                                "city_id"),
    "amount too large": Bad(ORDERS, lambda lines: crlf(with_field(lines, 6, PAYMENT_AMOUNT, "123456789")), 6,
                            "payment_amount"),
    "uniq_id too long": Bad(ORDERS, lambda lines: crlf(with_field(lines, 7, UNIQ_ID, "x" * 33)), 7, "uniq_id"),
    "empty text": Bad(ORDERS, lambda lines: crlf(with_field(lines, 8, CITY_NAME, "")), 8, "city_name"),
    "quoted empty text": Bad(ORDERS, lambda lines: crlf(with_field(lines, 8, ITEM_NAME, '""')), 8, "item_name"),
    # Values PostgreSQL would read, and read wrong: the file format is ISO timestamps and plain decimals.
    "timestamp as a word": Bad(ORDERS, lambda lines: crlf(with_field(lines, 9, DATE_TIME, "now")), 9, "date_time"),
    "timestamp with a zone": Bad("user_activity_log_inc.csv",
                                 lambda lines: crlf(with_field(lines, 4, 2, "2025-03-06 00:00:00+02")), 4,
                                 "date_time"),
    "NaN amount": Bad(ORDERS, lambda lines: crlf(with_field(lines, 10, PAYMENT_AMOUNT, "NaN")), 10,
                      "payment_amount"),
    "hexadecimal integer": Bad(ORDERS, lambda lines: crlf(with_field(lines, 11, QUANTITY, "0x1F")), 11, "quantity"),
    "carriage return inside a field": Bad(ORDERS, lambda lines: crlf(with_field(lines, 7, FIRST_NAME, "An\rn")), 7,
                                          None),
    # An hour is 00-23 (PostgreSQL reads 24:00:00 as the next day's midnight, and a 60th second as the
    # next minute): every copy of the order on line 2 moved, so no copy that differs gives it away.
    "hour 24": Bad(ORDERS, lambda lines: crlf(with_order_field(lines, 2, DATE_TIME, f"{DAY}T24:00:00")), 2,
                   "date_time"),
    "second 60": Bad(ORDERS, lambda lines: crlf(with_order_field(lines, 2, DATE_TIME, f"{DAY}T23:59:60")), 2,
                     "date_time"),
    # A key is stored as written or not at all: varchar(n) silently drops the spaces past its n characters,
    # which would make this copy of line 7's order equal to the others, or cut an item name to another one.
    "uniq_id with a trailing space past its 32 characters": Bad(ORDERS, lambda lines: crlf(
        with_field(lines, 7, UNIQ_ID, lines[6].split(",")[UNIQ_ID] + " ")), 7, "uniq_id"),
    "price_log item name with spaces past its 100 characters": Bad("price_log_inc.csv", lambda lines: crlf(
        with_field(lines, 2, 0, lines[1].split(",")[0] + " " * 100)), 2, "item_name"),
    # An unbalanced quote is reported where the quoted field began, not where the csv module gave up.
    "quote never closed": Bad(ORDERS, _unclosed_quote, 7, None),
    # The line stays the file's physical line after quoted fields, line ends inside quotes and blank lines.
    "bad value after quotes and blank lines": Bad(ORDERS, lambda lines: crlf(
        [lines[0], _quoted(lines[1]), "", _quoted(lines[2], '"Anne\r\nMarie"')] + [""] * 2
        + with_field(lines, 9, QUANTITY, "-2")[3:]), 13, "quantity"),  # 9, and 4 lines more before it
}


def load_log(db) -> list[tuple]:
    return rows(db, "SELECT load_id, file_name, load_kind, status, error_message, source FROM staging.load_log"
                    " ORDER BY load_id")


def assert_rejected(dataset: Path, db, dsn: str, tmp_path: Path, name: str, content: bytes,
                    line: int, column: str | None, lines_named: tuple[int, ...] = ()) -> None:
    """load-dir of the valid increment with `name` replaced by `content` fails
    naming file, line and column, and changes nothing but the load log."""
    before, log_before = snapshot(db, DATA_TABLES), load_log(db)
    root = increment_folder(dataset, tmp_path / "bad", {name: content})
    bad_file = root / "increments" / DAY.isoformat() / name

    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(root))

    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    named = [text for text in result.stderr.splitlines() if name in text
             and all(re.search(rf"\blines? (\d+ and )?{number}\b", text) for number in lines_named or (line,))
             and (column is None or re.search(rf"\bcolumn {column}\b", text))]
    assert named, f"no line of stderr names {name}, line {lines_named or line}, column {column}:\n{result.stderr}"

    assert snapshot(db, DATA_TABLES) == before, "a rejected file changed the warehouse"
    log_after = load_log(db)
    assert log_after[:len(log_before)] == log_before
    new = log_after[len(log_before):]
    assert [row for row in new if row[3] != "failed"] == [], "a file of the rejected increment logged success"
    failed = [row for row in new if row[1] == name]
    assert len(failed) == 1, new
    _, _, load_kind, _, message, source = failed[0]
    assert load_kind == "increment"
    assert source == str(bad_file.resolve())
    assert all(re.search(rf"\blines? (\d+ and )?{number}\b", message) for number in lines_named or (line,)), message
    assert column is None or re.search(rf"\bcolumn {column}\b", message), message


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.replace(" ", "-") for case in BAD_INPUTS])
def test_bad_input_is_rejected_whole(case, dataset, reported, dsn, db, tmp_path):
    bad = BAD_INPUTS[case]
    assert_rejected(dataset, db, dsn, tmp_path, bad.file, bad.content(lines_of(dataset, bad.file)),
                    bad.line, bad.column)


def test_copies_of_an_order_that_differ_are_rejected(dataset, reported, dsn, db, tmp_path):
    lines = lines_of(dataset, ORDERS)
    uniq_ids = [line.split(",")[UNIQ_ID] for line in lines]
    first = 3                                     # physical line of the order's first copy
    order = uniq_ids[first - 1]
    assert uniq_ids.index(order) == first - 1
    other = len(lines)                            # a later line becomes a copy of it, quantity changed
    assert uniq_ids[other - 1] != order
    fields = lines[first - 1].split(",")
    fields[ID] = str(other - 1)
    fields[QUANTITY] = str(int(fields[QUANTITY]) + 1)
    corrupt = lines[:other - 1] + [",".join(fields)]
    assert_rejected(dataset, db, dsn, tmp_path, ORDERS, crlf(corrupt), other, "quantity", lines_named=(first, other))


def test_rows_left_in_landing_by_an_unfinished_load_stop_the_next_one(dataset, reported, dsn, db, tmp_path):
    # A hand `\copy` committed without its CALL: its rows must not ride along with the next load.
    db.cursor().execute("INSERT INTO landing.price_log (item_name, price) VALUES ('Stray', 1)")
    before, log_before = snapshot(db, DATA_TABLES), load_log(db)

    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(increment_folder(dataset, tmp_path / "after")))

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "landing.price_log holds rows of an unfinished earlier load" in result.stderr, result.stderr
    assert snapshot(db, DATA_TABLES) == before
    assert rows(db, "SELECT item_name FROM landing.price_log") == [("Stray",)]
    assert {row[3] for row in load_log(db)[len(log_before):]} == {"failed"}


def test_a_bad_redelivery_keeps_the_day_as_it_was(dataset, reported, dsn, db, tmp_path):
    good_root = increment_folder(dataset, tmp_path / "good")
    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(good_root))
    assert result.returncode == 0, result.stderr
    assert_rejected(dataset, db, dsn, tmp_path, ORDERS,
                    crlf(with_field(lines_of(dataset, ORDERS), 9, QUANTITY, "-2")), 9, "quantity")


def test_the_error_says_which_increment_the_bad_file_is_in(dataset, reported, dsn, db, tmp_path):
    """Every increment has a user_order_log_inc.csv: with several days in one
    load-dir, the bare file name does not say which one is bad."""
    root = increment_folder(dataset, tmp_path / "two-days")
    bad_day = date(2025, 3, 7)
    shutil.copytree(root / "increments" / DAY.isoformat(), root / "increments" / bad_day.isoformat())
    (root / "increments" / bad_day.isoformat() / ORDERS).write_bytes(
        crlf(with_field(lines_of(dataset, ORDERS), 9, QUANTITY, "-2")))

    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(root))

    assert result.returncode != 0
    error_lines = [text for text in result.stderr.splitlines() if ORDERS in text and re.search(r"\bline 9\b", text)]
    assert error_lines, result.stderr
    assert any(bad_day.isoformat() in text for text in error_lines), (
        f"the error does not say which increment (day {bad_day} of {root}) holds the bad file: {error_lines}")


def test_an_unknown_file_in_an_increment_is_ignored_with_a_warning(dataset, reported, dsn, db, tmp_path):
    # Like an unknown column: the source may grow files; the four known ones still load.
    root = increment_folder(dataset, tmp_path / "stray")
    (root / "increments" / DAY.isoformat() / "notes.csv").write_text("a,b\n1,2\n")

    result = load_ok(db, dsn, root)

    assert any("notes.csv" in text and "ignored" in text for text in result.stderr.splitlines()), result.stderr
    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "stray file")
    assert not rows(db, "SELECT 1 FROM staging.load_log WHERE file_name = 'notes.csv'")


def test_a_missing_folder_is_an_error(dsn, db, tmp_path):
    before = snapshot(db)
    missing = tmp_path / "no-such-folder"
    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(missing))
    assert result.returncode != 0, "load-dir of a folder that does not exist reported success"
    assert str(missing) in result.stderr
    assert snapshot(db) == before


# ---------------------------------------------------- odd but valid input ----

def model_of(report: Path, increments: list[Path]) -> Model:
    """The model fed what load-dir loads: the report files over their own dates, then each increment."""
    model = Model()
    for path in sorted(report.glob("*.csv")):
        model.load_file(path)
    for folder in increments:
        day = date.fromisoformat(folder.name)
        for path in sorted(folder.glob("*_inc.csv")):
            model.load_file(path, day, day)
    return model


def load_ok(db, dsn: str, root: Path):
    result = cli(cli_env(DATABASE_URL=dsn), "load-dir", str(root))
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT count(*) FROM staging.load_log WHERE status <> 'success'") == [(0,)]
    return result


def test_an_unknown_extra_column_is_ignored_with_a_warning(dataset, reported, dsn, db, tmp_path):
    lines = lines_of(dataset, ORDERS)
    widened = [",".join(fields[:CUSTOMER_ID + 1] + [extra] + fields[CUSTOMER_ID + 1:])
               for fields, extra in zip((line.split(",") for line in lines),
                                        ["coupon_code"] + [f"C{n % 3}" for n in range(len(lines) - 1)], strict=True)]
    root = increment_folder(dataset, tmp_path / "wide", {ORDERS: crlf(widened)})

    result = load_ok(db, dsn, root)

    assert any("coupon_code" in text and ORDERS in text for text in result.stderr.splitlines()), result.stderr
    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "extra column")


def test_an_old_format_file_without_status_loads_as_shipped(dataset, reported, dsn, db, tmp_path):
    old = tmp_path / "old-source"
    generate(old, days=1, orders_per_day=20, seed=5, start=START, report_days=REPORT_DAYS, old_format=True)
    root = tmp_path / "old"
    shutil.copytree(old / "increments", root / "increments")
    assert "status" not in (root / "increments" / DAY.isoformat() / ORDERS).read_text().splitlines()[0]

    load_ok(db, dsn, root)

    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "old format")
    day_rows = rows(db, "SELECT status, quantity > 0 AND payment_amount > 0 FROM mart.f_sales WHERE date_id = %s",
                    (int(DAY.strftime("%Y%m%d")),))
    assert len(day_rows) == 20 and set(day_rows) == {("shipped", True)}


def test_crlf_lf_and_quoted_fields_with_commas(dataset, reported, dsn, db, tmp_path):
    lines = lines_of(dataset, ORDERS)
    quoted_orders = sorted({line.split(",")[UNIQ_ID] for line in lines[1:]})[:3]
    rewritten = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        if fields[UNIQ_ID] in quoted_orders:
            fields[FIRST_NAME] = '"Anne, Marie"'
            fields[LAST_NAME] = '"O""Neil, Jr."'
            fields[ITEM_NAME] = f'"{fields[ITEM_NAME]}"'   # quoted without need: same value
        rewritten.append(",".join(fields))
    activity = lines_of(dataset, "user_activity_log_inc.csv")
    research = lines_of(dataset, "customer_research_inc.csv")
    root = increment_folder(dataset, tmp_path / "quoted", {
        ORDERS: crlf(rewritten),
        "user_activity_log_inc.csv": "".join(f"{line}\n" for line in activity).encode(),
        "customer_research_inc.csv": "\n".join(research).encode(),  # LF, no newline at the end
    })

    load_ok(db, dsn, root)

    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "quoted")
    assert sorted(rows(db, "SELECT uniq_id, first_name, last_name FROM staging.user_order_log"
                           " WHERE first_name LIKE '%%,%%'")) == [
        (uniq_id, "Anne, Marie", 'O"Neil, Jr.') for uniq_id in quoted_orders]
    assert rows(db, "SELECT count(*) FROM staging.customer_research WHERE date_id = %s", (DAY,)) == [(30,)]


def test_a_header_only_file_empties_its_day(dataset, reported, dsn, db, tmp_path):
    full = increment_folder(dataset, tmp_path / "full")
    load_ok(db, dsn, full)
    day_id = int(DAY.strftime("%Y%m%d"))
    assert rows(db, "SELECT count(*) FROM mart.f_sales WHERE date_id = %s", (day_id,)) == [(20,)]

    root = increment_folder(dataset, tmp_path / "empty", {
        ORDERS: crlf(lines_of(dataset, ORDERS)[:1]),
        "user_activity_log_inc.csv": crlf(lines_of(dataset, "user_activity_log_inc.csv")[:1]),
    })
    load_ok(db, dsn, root)

    model = model_of(reported, [full / "increments" / DAY.isoformat(), root / "increments" / DAY.isoformat()])
    assert_warehouse_is(db, model, "header-only re-delivery")
    assert rows(db, "SELECT count(*) FROM staging.user_order_log WHERE date_time::date = %s", (DAY,)) == [(0,)]
    assert rows(db, "SELECT count(*) FROM staging.user_activity_log WHERE date_time::date = %s", (DAY,)) == [(0,)]
    assert rows(db, "SELECT count(*) FROM mart.f_sales WHERE date_id = %s", (day_id,)) == [(0,)]
    assert rows(db, "SELECT rows_read, rows_loaded FROM staging.load_log WHERE file_name = %s"
                    " ORDER BY load_id DESC LIMIT 1", (ORDERS,)) == [(0, 0)]


def test_an_order_dated_another_day_is_upserted_and_its_marts_rebuilt(dataset, reported, dsn, db, tmp_path):
    """An increment's file may carry other dates; those rows are
    upserted by key, and the marts of their day and week follow."""
    other_day = date(2025, 2, 26)  # before the report, in ISO week 202509
    lines = lines_of(dataset, ORDERS)
    moved = lines[1].split(",")[UNIQ_ID]
    root = increment_folder(dataset, tmp_path / "other-day", {ORDERS: crlf(
        [lines[0]] + [line.replace(f"{DAY}T", f"{other_day}T") if line.split(",")[UNIQ_ID] == moved else line
                      for line in lines[1:]])})

    load_ok(db, dsn, root)

    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "other day")
    assert rows(db, "SELECT date_id FROM mart.f_sales WHERE uniq_id = %s", (moved,)) == [(20250226,)]
    assert rows(db, "SELECT DISTINCT period_name, period_id FROM mart.f_customer_retention ORDER BY 1, 2") == [
        ("monthly", 202502), ("monthly", 202503), ("weekly", 202509), ("weekly", 202510)]
    assert rows(db, "SELECT out_of_date_rows FROM staging.load_log WHERE file_name = %s", (ORDERS,)) == [(1,)]


@pytest.mark.parametrize("empty", ["", '""'], ids=["nothing", "quoted"])
def test_empty_names_load(dataset, reported, dsn, db, tmp_path, empty):
    """A customer may lack a first or a last name: an empty name, written as nothing or as "", loads as an
    empty string into staging and the customer dimension, and the marts follow the model."""
    lines = lines_of(dataset, ORDERS)
    no_first_name = lines[1].split(",")[UNIQ_ID]
    no_last_name = next(line.split(",")[UNIQ_ID] for line in lines[2:]
                        if line.split(",")[UNIQ_ID] != no_first_name)
    rewritten = with_order_field(with_order_field(lines, 2, FIRST_NAME, empty),
                                 [line.split(",")[UNIQ_ID] for line in lines].index(no_last_name) + 1,
                                 LAST_NAME, empty)
    root = increment_folder(dataset, tmp_path / "no-names", {ORDERS: crlf(rewritten)})

    load_ok(db, dsn, root)

    assert_warehouse_is(db, model_of(reported, [root / "increments" / DAY.isoformat()]), "empty names")
    assert sorted(rows(db, "SELECT uniq_id, first_name = '', last_name = '' FROM staging.user_order_log"
                           " WHERE first_name = '' OR last_name = ''")) == sorted(
        [(no_first_name, True, False), (no_last_name, False, True)])


def test_a_bom_is_stripped_in_every_file(dataset, reported, dsn, db, tmp_path):
    """A UTF-8 BOM before the header, or before the first item of header-less price_log."""
    folder = dataset / "increments" / DAY.isoformat()
    root = increment_folder(dataset, tmp_path / "bom", {
        name: b"\xef\xbb\xbf" + (folder / name).read_bytes() for name in FILES})

    load_ok(db, dsn, root)

    assert_warehouse_is(db, model_of(reported, [folder]), "BOM")
    first_item = lines_of(dataset, "price_log_inc.csv")[0].split(",")[0]
    assert rows(db, "SELECT count(*) FROM staging.price_log WHERE item_name = %s", (first_item,)) == [(1,)]


# ------------------------------------------------------- the stream itself ----

def landed(dsn: str, path: Path) -> list[tuple]:
    """What COPY of `path` through ValidatingReader puts in landing.user_order_log (rolled back)."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            with ValidatingReader(path, FILE_KINDS["user_order_log"], path.name) as reader:
                cursor.copy_expert(reader.copy_sql, reader)
            cursor.execute("SELECT line_no, uniq_id, date_time::text, city_id, city_name, customer_id, first_name,"
                           " last_name, item_id, item_name, quantity, payment_amount::text, status"
                           " FROM landing.user_order_log ORDER BY line_no")
            return cursor.fetchall()
    finally:
        connection.rollback()
        connection.close()


def expected_rows(content: bytes) -> list[tuple]:
    """The csv module's reading of the same file: each record at the physical line it ends on."""
    reader = csv.DictReader(io.StringIO(content.decode("utf-8"), newline=""))
    return [(reader.line_num, row["uniq_id"], row["date_time"].replace("T", " "), int(row["city_id"]),
             row["city_name"], int(row["customer_id"]), row["first_name"], row["last_name"], int(row["item_id"]),
             row["item_name"], int(row["quantity"]), f"{row['payment_amount']}.00", row["status"])
            for row in reader]


def rearranged(lines: list[str], header: list[str]) -> list[str]:
    """The order log with its columns in the order of `header`; names it lacks are new columns."""
    old = lines[0].split(",")
    return [",".join(header)] + [
        ",".join(fields[old.index(name)] if name in old else f"{name}-{number}" for name in header)
        for number, fields in enumerate((line.split(",") for line in lines[1:]), start=2)]


LAYOUTS = {
    "CRLF": crlf,
    "LF, no final line end": lambda lines: "\n".join(lines).encode(),
    "CRLF and LF mixed": lambda lines: b"".join(
        f"{line}{end}".encode() for line, end in zip(lines, cycle(["\r\n", "\n"]))),
    "quotes, a line end inside quotes, a blank line": lambda lines: crlf(
        lines[:12] + [_quoted(lines[12], '"Anne\r\nMarie"'), ""] + lines[13:] + lines[1:3]),
    "unknown columns first, inside and last, id inside": lambda lines: crlf(rearranged(lines, [
        "source", "uniq_id", "date_time", "city_id", "city_name", "id", "customer_id", "coupon", "batch",
        "first_name", "last_name", "item_id", "item_name", "quantity", "payment_amount", "status", "note"])),
    "unknown column last, no id": lambda lines: "\n".join(rearranged(lines, [
        "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name", "item_id",
        "item_name", "quantity", "payment_amount", "status", "note"])).encode(),
    "every column loaded, no id": lambda lines: crlf(rearranged(lines, [
        "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name", "item_id",
        "item_name", "quantity", "payment_amount", "status"])),
}
# Layouts without quotes and with one kind of line end: read in whole chunks, so that a chunk holding the
# whole file sends each line once, its first copy.
PLAIN_LAYOUTS = {"CRLF", "LF, no final line end", "unknown columns first, inside and last, id inside",
                 "unknown column last, no id", "every column loaded, no id"}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("chunk_size", [1 << 20, 150, 1000])
def test_every_line_lands_with_its_physical_line_number(chunk_size, layout, dataset, dsn, tmp_path, monkeypatch):
    """Plain lines go through in chunks by bytes operations, the rest through the csv module from the
    first chunk that needs it; however the chunks fall, landing gets the rows with their line numbers:
    every line's first copy, and no line that is not in the file (a copy of a line sent in the same or
    the chunk before stays out). A plain file read in one chunk sends exactly the first copies."""
    monkeypatch.setattr(files, "CHUNK_SIZE", chunk_size)
    content = LAYOUTS[layout](lines_of(dataset, ORDERS))
    path = tmp_path / ORDERS
    path.write_bytes(content)

    lines = expected_rows(content)
    first_copies = {row[1:]: row for row in reversed(lines)}.values()
    got = landed(dsn, path)
    assert set(first_copies) <= set(got) <= set(lines)
    assert len(set(got)) == len(got)
    if layout in PLAIN_LAYOUTS and chunk_size > len(content):
        assert sorted(got) == sorted(first_copies)


def test_a_line_longer_than_the_limit_is_refused_with_its_number(dataset, tmp_path, monkeypatch):
    """A "line" longer than any CSV line is refused before it fills memory, wherever the chunks fall."""
    monkeypatch.setattr(files, "LONGEST_LINE", 300)
    monkeypatch.setattr(files, "CHUNK_SIZE", 100)
    path = tmp_path / ORDERS
    path.write_bytes(crlf(with_field(lines_of(dataset, ORDERS), 4, FIRST_NAME, "x" * 1000)))
    with (pytest.raises(BadInput, match=r"line 4: line longer than"),
          ValidatingReader(path, FILE_KINDS["user_order_log"], path.name) as reader):
        reader.read()


def test_every_landing_check_is_named_in_errors(db):
    """A value refused by a landing CHECK is reported by its column: files.py knows every such constraint."""
    constraints = rows(db, """
        SELECT c.conrelid::regclass::text, c.conname, a.attname
        FROM pg_constraint AS c JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.connamespace = 'landing'::regnamespace AND c.contype = 'c'""")
    assert sorted(constraints) == sorted(
        (f"landing.{kind.name}", name, column) for kind in FILE_KINDS.values()
        for name, (column, _) in kind.rules.items())
