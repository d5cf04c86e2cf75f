"""The source's CSV files: their columns, and a validating stream of their rows.

Every row is checked against SPEC 2 and 4.6 while it streams to COPY, so a bad
file fails with its file, line and column before the staging procedure runs,
and the whole load rolls back. Lines are physical lines of the file, the
header being line 1.
"""
import codecs
import csv
import hashlib
import io
import logging
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

logger = logging.getLogger(__name__)

# ASCII only: Python's \d and int() take digits PostgreSQL refuses ('١٢', '1_000').
INTEGER = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?")
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1


class BadInput(ValueError):
    """A file that breaks the rules of SPEC 2 / 4.6; names file, line and column."""

    def __init__(self, file: str, line: int | None, column: str | None, problem: str):
        where = ", ".join(part for part in (
            file,
            f"line {line}" if line is not None else None,
            f"column {column}" if column else None,
        ) if part)
        super().__init__(f"{where}: {problem}")


# A check raises ValueError saying what is wrong with a value; each mirrors
# the type of its landing column, so COPY never meets a value it refuses.

def _integer(limit: int = INT4_MAX, *, negative: bool = True) -> Callable[[str], None]:
    def check(text: str) -> None:
        if not INTEGER.fullmatch(text) or abs(int(text)) > limit:
            raise ValueError(f"{text!r} is not a valid integer")
        if not negative and int(text) < 0:
            raise ValueError(f"{text!r} is negative")
    return check


def _amount(digits: int) -> Callable[[str], None]:
    """A non-negative number that fits numeric(digits, 2)."""
    def check(text: str) -> None:
        if not DECIMAL.fullmatch(text):
            raise ValueError(f"{text!r} is not a valid number")
        value = Decimal(text)
        if value < 0:
            raise ValueError(f"{text!r} is negative")
        if value >= Decimal(10) ** (digits - 2):
            raise ValueError(f"{text!r} is too large")
    return check


def _timestamp(text: str) -> None:
    try:
        if not TIMESTAMP.fullmatch(text):
            raise ValueError
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid timestamp") from None


def _text(max_length: int) -> Callable[[str], None]:
    def check(text: str) -> None:
        if len(text) > max_length:
            raise ValueError(f"longer than {max_length} characters")
    return check


def _status(text: str) -> None:
    if text not in ("shipped", "refunded"):
        raise ValueError(f"{text!r} is not a valid status (shipped or refunded)")


@dataclass(frozen=True)
class Column:
    name: str
    check: Callable[[str], None]
    optional: bool = False  # older files lack it; landing's column default fills in


@dataclass(frozen=True)
class FileKind:
    """One of the four files: how it is validated, landed and merged."""
    name: str                 # user_order_log, ...: also the landing table and the load_log file_kind
    columns: tuple[Column, ...]
    date_column: str | None   # None: an undated snapshot
    has_header: bool = True
    line_column: str | None = None  # the file's own line number column, not loaded


FILE_KINDS = {kind.name: kind for kind in (
    FileKind("user_order_log", (
        Column("uniq_id", _text(32)), Column("date_time", _timestamp), Column("city_id", _integer()),
        Column("city_name", _text(100)), Column("customer_id", _integer()), Column("first_name", _text(100)),
        Column("last_name", _text(100)), Column("item_id", _integer()), Column("item_name", _text(100)),
        Column("quantity", _integer(INT8_MAX, negative=False)), Column("payment_amount", _amount(10)),
        Column("status", _status, optional=True),
    ), date_column="date_time", line_column="id"),
    FileKind("user_activity_log", (
        Column("uniq_id", _text(32)), Column("date_time", _timestamp), Column("action_id", _integer()),
        Column("customer_id", _integer()), Column("quantity", _integer(INT8_MAX, negative=False)),
    ), date_column="date_time", line_column="id"),
    FileKind("customer_research", (
        Column("date_id", _timestamp), Column("category_id", _integer()), Column("geo_id", _integer()),
        Column("sales_qty", _integer(negative=False)), Column("sales_amt", _amount(14)),
    ), date_column="date_id"),
    FileKind("price_log", (
        Column("item_name", _text(100)), Column("price", _amount(10)),
    ), date_column=None, has_header=False),
)}


def kind_of(path: Path | str) -> FileKind | None:
    """The kind of a file by its name (user_order_log.csv or user_order_log_inc.csv, ...), if it is one."""
    return FILE_KINDS.get(Path(path).name.removesuffix(".csv").removesuffix("_inc"))


@dataclass
class FileStats:
    """What streaming a file found: filled in as the rows go by."""
    dates: set[date] = field(default_factory=set)
    sha256: "hashlib._Hash" = field(default_factory=hashlib.sha256)

    @property
    def checksum(self) -> str:
        return self.sha256.hexdigest()


# Redelivered copies repeat a line but for its id: a line seen lately needs
# no second check. Bounded, so memory stays flat however large the file.
RECENTLY_CHECKED_LIMIT = 20_000


class ValidatingReader:
    """A file-like object for COPY: reads `path`, checks every row, and hands
    out the rows as CSV with the line number first, in the column order of
    `copy_sql`. The header is read on construction, so a file without a
    usable one fails before any COPY starts.

    A problem raises BadInput from read(); psycopg2 wraps exceptions raised
    there, so the original is kept in `.error` for the caller to re-raise.
    """

    def __init__(self, path: Path, kind: FileKind, name: str):
        self.path = Path(path)
        self.kind = kind
        self.name = name  # how errors name the file
        self.stats = FileStats()
        self.error: BadInput | None = None
        self._file = open(self.path, "rb")
        self._records = csv.reader(self._lines(), strict=True)
        try:
            positions, self._width = self._read_header()
        except BadInput:
            self.close()
            raise
        # Columns the file lacks (an old file's status) take the landing table's default.
        self._present = [(positions[column.name], column) for column in self.kind.columns
                         if column.name in positions]
        self._date_position = positions.get(self.kind.date_column)
        self._chunks = self._encoded_rows()
        self._pending = b""

    @property
    def copy_sql(self) -> str:
        columns = ", ".join(["line_no"] + [column.name for _, column in self._present])
        return f"COPY landing.{self.kind.name} ({columns}) FROM STDIN WITH (FORMAT csv)"

    def read(self, size: int = -1) -> bytes:
        try:
            while size < 0 or len(self._pending) < size:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except BadInput as error:
            self.error = error
            raise
        if size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    readline = read

    def close(self) -> None:
        self._file.close()

    def _encoded_rows(self) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in self._rows():
            writer.writerow(row)
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")
        self.close()

    def _lines(self) -> Iterator[str]:
        """The file's text, line by line, hashing the bytes and failing on non-UTF-8 with its line."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        line_no = 0
        for raw_line in self._file:
            line_no += 1
            self.stats.sha256.update(raw_line)
            try:
                yield decoder.decode(raw_line)
            except UnicodeDecodeError as error:
                raise BadInput(self.name, line_no, None,
                               f"not UTF-8 (byte 0x{raw_line[error.start]:02x} at offset {error.start})") from None
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise BadInput(self.name, line_no, None, "not UTF-8 (truncated character at end of file)") from None

    def _rows(self) -> Iterator[list[str]]:
        take_values = operator.itemgetter(*(position for position, _ in self._present))
        recently_checked: set[tuple[str, ...]] = set()
        records = self._records
        try:
            for record in records:
                if not record:
                    continue  # a blank line carries nothing
                values = take_values(record) if len(record) == self._width else None
                if values not in recently_checked:
                    self._check(record, records.line_num)
                    if len(recently_checked) >= RECENTLY_CHECKED_LIMIT:
                        recently_checked.clear()
                    recently_checked.add(values)
                yield [str(records.line_num), *values]
        except csv.Error as error:
            raise BadInput(self.name, records.line_num, None, f"malformed CSV: {error}") from None

    def _check(self, record: list[str], line: int) -> None:
        if len(record) != self._width:
            raise BadInput(self.name, line, None, f"{len(record)} fields, expected {self._width}")
        for position, column in self._present:
            value = record[position]
            try:
                if value == "":
                    raise ValueError("empty value")
                column.check(value)
            except ValueError as problem:
                raise BadInput(self.name, line, column.name, str(problem)) from None
        if self._date_position is not None:
            self.stats.dates.add(datetime.fromisoformat(record[self._date_position]).date())

    def _read_header(self) -> tuple[dict[str, int], int]:
        """Where each column is, and how many fields a line has."""
        if not self.kind.has_header:
            return {column.name: index for index, column in enumerate(self.kind.columns)}, len(self.kind.columns)
        try:
            header = next(self._records, None)
        except csv.Error as error:
            raise BadInput(self.name, 1, None, f"malformed CSV: {error}") from None
        if header is None:
            raise BadInput(self.name, 1, None, "empty file: no header line")
        header = [name.strip().lstrip("\ufeff") for name in header]
        expected = [column.name for column in self.kind.columns]
        known = set(expected) | ({self.kind.line_column} if self.kind.line_column else set())
        if not known & set(header):
            raise BadInput(self.name, 1, None, f"no header line: expected the columns {','.join(expected)}")
        for column in self.kind.columns:
            if not column.optional and column.name not in header:
                raise BadInput(self.name, 1, column.name, "required column missing from the header")
        unknown = [name for name in header if name not in known]
        if unknown:
            # The source may grow columns; they are not ours to load.
            logger.warning("%s: ignoring unknown column(s) %s", self.name, ", ".join(unknown))
        return {name: index for index, name in enumerate(header) if name in known}, len(header)
