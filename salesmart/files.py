"""The source's CSV files: their columns, and a stream of their lines for COPY.

PostgreSQL checks the values while it COPYs them into landing: types and
ranges by the landing column types (its error context names the line and
column), the rules (non-negative, non-empty, status, lengths) by landing's
CHECK constraints. Python keeps to what PostgreSQL cannot do or would read too
liberally: the header (column order, unknown and duplicated names, BOM),
NUL bytes, UTF-8, timestamps in any format but ISO ('now', '06/03/2025') or
past the day (24:00:00) and numbers in notations other than plain decimal
('1_000', '0x1F'), plus
the checksum and the physical line number of every row. A file without
quotes goes through in whole chunks by bytes operations; one with quoted
fields, blank lines or anything suspicious goes through the csv module line
by line from there on, which also words the error. Lines are physical lines
of the file, the header being line 1.
"""
import csv
import hashlib
import io
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Self

import psycopg2
import psycopg2.errors

logger = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"
CHUNK_SIZE = 1 << 20
LONGEST_LINE = 16 << 20  # a "line" longer than this is not CSV: stop before it fills memory


class BadInput(ValueError):
    """A file that breaks the source's format or the rules of docs/rules.md, "Bad input";
    names file, line and column."""

    def __init__(self, file: str, line: int | None, column: str | None, problem: str):
        where = ", ".join(part for part in (
            file,
            f"line {line}" if line is not None else None,
            f"column {column}" if column else None,
        ) if part)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Syntax:
    """How a value must be written. PostgreSQL takes more: the file format is strict ISO / plain decimal."""
    name: str
    pattern: str  # ASCII only: Python's \\d takes digits PostgreSQL refuses ('١٢')
    in_chunk: str | None = None  # the pattern inside a chunk of unquoted lines, if other

    @cached_property
    def _regex(self) -> re.Pattern:
        return re.compile(self.pattern)

    def matches(self, value: str) -> bool:
        return self._regex.fullmatch(value) is not None


TEXT = Syntax("text", r"(?s:.*)", in_chunk=r"[^,]*+")
INTEGER = Syntax("integer", r"-?[0-9]++")
NUMBER = Syntax("number", r"-?(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)")
# Hours 00-23, minutes and seconds 00-59: PostgreSQL reads 24:00:00 as the next day's midnight and a 60th
# second as the next minute, which would move an order to another business day.
TIMESTAMP = Syntax("timestamp (YYYY-MM-DD[THH:MM[:SS[.ffffff]]], hours 00-23)",
                   r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                   r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)?")


@dataclass(frozen=True)
class Column:
    name: str
    syntax: Syntax
    optional: bool = False  # older files lack it; landing's column default fills in
    may_be_empty: bool = False  # an empty value is an empty string (COPY's FORCE_NOT_NULL), not missing


@dataclass(frozen=True)
class FileKind:
    """One of the four files: how it is read, landed and merged."""
    name: str                 # user_order_log, ...: also the landing table and the load_log file_kind
    columns: tuple[Column, ...]
    date_column: str | None   # None: an undated snapshot
    # Landing's CHECK constraints: name -> (column, the rule broken), for the error message.
    rules: dict[str, tuple[str, str]]
    has_header: bool = True
    line_column: str | None = None  # the file's own line number column, not loaded


NEGATIVE = "negative value"
EMPTY = "empty value"
NOT_A_NUMBER = "NaN is not a number"
TOO_LONG = "longer than {length} characters (trailing spaces count): it would not be stored as written"


def _rules(table: str, non_negative: tuple[str, ...] = (), non_empty: tuple[str, ...] = (),
           numbers: tuple[str, ...] = (), lengths: dict[str, int] | None = None) -> dict[str, tuple[str, str]]:
    """The landing constraints of migrations 0007, 0011 and 0020, by their naming."""
    return ({f"{table}_{column}_check": (column, NEGATIVE) for column in non_negative}
            | {f"{table}_{column}_not_empty": (column, EMPTY) for column in non_empty}
            | {f"{table}_{column}_not_nan": (column, NOT_A_NUMBER) for column in numbers}
            | {f"{table}_{column}_length": (column, TOO_LONG.format(length=length))
               for column, length in (lengths or {}).items()})


FILE_KINDS = {kind.name: kind for kind in (
    FileKind("user_order_log", (
        Column("uniq_id", TEXT), Column("date_time", TIMESTAMP), Column("city_id", INTEGER),
        Column("city_name", TEXT), Column("customer_id", INTEGER),
        # A customer may lack a first or a last name; an item or a city always has one.
        Column("first_name", TEXT, may_be_empty=True), Column("last_name", TEXT, may_be_empty=True),
        Column("item_id", INTEGER), Column("item_name", TEXT),
        Column("quantity", INTEGER), Column("payment_amount", NUMBER), Column("status", TEXT, optional=True),
    ), date_column="date_time", line_column="id", rules=_rules(
        "user_order_log", non_negative=("quantity", "payment_amount"), numbers=("payment_amount",),
        non_empty=("uniq_id", "city_name", "item_name"),
        lengths={"uniq_id": 32, "city_name": 100, "first_name": 100, "last_name": 100, "item_name": 100})
        | {"user_order_log_status_check": ("status", "not a valid status (shipped or refunded)")}),
    FileKind("user_activity_log", (
        Column("uniq_id", TEXT), Column("date_time", TIMESTAMP), Column("action_id", INTEGER),
        Column("customer_id", INTEGER), Column("quantity", INTEGER),
    ), date_column="date_time", line_column="id",
        rules=_rules("user_activity_log", non_negative=("quantity",), non_empty=("uniq_id",), lengths={"uniq_id": 32})),
    FileKind("customer_research", (
        Column("date_id", TIMESTAMP), Column("category_id", INTEGER), Column("geo_id", INTEGER),
        Column("sales_qty", INTEGER), Column("sales_amt", NUMBER),
    ), date_column="date_id",
        rules=_rules("customer_research", non_negative=("sales_qty", "sales_amt"), numbers=("sales_amt",))),
    FileKind("price_log", (
        Column("item_name", TEXT), Column("price", NUMBER),
    ), date_column=None, has_header=False,
        rules=_rules("price_log", non_negative=("price",), non_empty=("item_name",), numbers=("price",),
                     lengths={"item_name": 100})),
)}


def kind_of(path: Path | str) -> FileKind | None:
    """The kind of a file by its name (user_order_log.csv or user_order_log_inc.csv, ...), if it is one."""
    return FILE_KINDS.get(Path(path).name.removesuffix(".csv").removesuffix("_inc"))


@dataclass
class FileStats:
    """What streaming a file found: filled in as the bytes go by."""
    sha256: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    copies_dropped: int = 0  # lines not sent: copies of a line sent already (the merge counts them as copies)

    @property
    def checksum(self) -> str:
        return self.sha256.hexdigest()


# COPY's error context: "COPY user_order_log, line 7, column date_time: ..."
COPY_CONTEXT = re.compile(r"^COPY [^,]+, line (\d+)(?:, column ([^:]+))?", re.MULTILINE)


class ValidatingReader:
    """A file-like object for COPY: reads `path` and hands out its data lines
    as CSV, each prefixed with its physical line number, in the column order
    of `copy_sql`, less the copies of a line it sent just before
    (_lines_to_send; stats.copies_dropped counts them). The header is read on
    construction, so a file without a usable one fails before any COPY starts.

    Use it as a context manager around the COPY: a problem found here raises
    BadInput from read() (psycopg2 wraps it, so the original is kept in
    `.error`), and a value PostgreSQL refuses comes back as BadInput too.
    """

    def __init__(self, path: Path, kind: FileKind, name: str):
        self.path = Path(path)
        self.kind = kind
        self.name = name  # how errors name the file
        self.stats = FileStats()
        self.error: BadInput | None = None
        self._file = open(self.path, "rb")  # noqa: SIM115 - open until COPY has read it all: see close()
        try:
            self._header, self._header_lines, self._eol = self._read_header()
        except BadInput:
            self.close()
            raise
        known = {column.name: column for column in kind.columns}
        # Columns the file lacks (an old file's status) take the landing table's default.
        self._present = [(position, known[name]) for position, name in enumerate(self._header) if name in known]
        self._line_no = self._header_lines  # physical lines read so far
        self._last_sent = self._header_lines  # the physical line of the last line sent to COPY
        self._chunks = self._stream()
        self._pending = memoryview(b"")

    @property
    def copy_sql(self) -> str:
        columns = ", ".join(["line_no"] + [column.name for _, column in self._present])
        may_be_empty = ", ".join(column.name for _, column in self._present if column.may_be_empty)
        force_not_null = f", FORCE_NOT_NULL ({may_be_empty})" if may_be_empty else ""
        return (f"COPY landing.{self.kind.name} ({columns}) FROM STDIN"
                f" WITH (FORMAT csv, ENCODING 'UTF8'{force_not_null})")

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_SIZE), b""))
        try:
            while not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    return b""
                self._pending = memoryview(chunk)
        except BadInput as error:
            self.error = error
            raise
        piece, self._pending = self._pending[:size], self._pending[size:]
        return bytes(piece)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()
        if error is None:
            return
        if self.error is not None:
            raise self.error from None
        if isinstance(error, psycopg2.Error):
            refused = self._refused_value(error)
            if refused is not None:
                raise refused from None

    def _refused_value(self, error: psycopg2.Error) -> BadInput | None:
        """PostgreSQL's refusal of a line of this file, with its line and column; None for other errors."""
        context = COPY_CONTEXT.search(error.diag.context or "")
        error_class = (error.pgcode or "")[:2]
        if context is None or error_class not in ("22", "23"):  # data exception, integrity violation
            return None
        # The stream holds the file's lines one for one, from the line after the header.
        line = int(context[1]) + self._header_lines
        column = context[2] or error.diag.column_name
        if isinstance(error, psycopg2.errors.NotNullViolation):
            problem = EMPTY
        elif error.diag.constraint_name in self.kind.rules:
            column, rule = self.kind.rules[error.diag.constraint_name]
            problem = f"{rule} (landing check {error.diag.constraint_name})"
        else:  # an integrity violation's detail repeats the whole row
            detail = error.diag.message_detail if error_class == "22" else None
            problem = error.diag.message_primary + (f" ({detail})" if detail else "")
        return BadInput(self.name, line, column, problem)

    # ------------------------------------------------------------ the header ----

    def _read_header(self) -> tuple[list[str], int, bytes]:
        """The column names in file order, the physical lines they take, and the line end the file uses."""
        first = self._file.readline(LONGEST_LINE)
        eol = b"\r\n" if first.endswith(b"\r\n") else b"\n"
        if not self.kind.has_header:
            self._file.seek(0)  # the first line is data
            return [column.name for column in self.kind.columns], 0, eol
        self.stats.sha256.update(first)
        if not first:
            raise BadInput(self.name, 1, None, "empty file: no header line")
        try:
            text = first.removeprefix(BOM).decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadInput(self.name, 1, None, f"not UTF-8 (byte 0x{first[error.start]:02x})") from None
        try:
            header = next(csv.reader([text], strict=True), [])
        except csv.Error as error:
            raise BadInput(self.name, 1, None, f"malformed CSV: {error}") from None
        header = [name.strip() for name in header]
        if any("\0" in name for name in header):
            raise BadInput(self.name, 1, None, "NUL byte in the header")
        expected = [column.name for column in self.kind.columns]
        known = set(expected) | ({self.kind.line_column} if self.kind.line_column else set())
        if not known & set(header):
            raise BadInput(self.name, 1, None, f"no header line: expected the columns {','.join(expected)}")
        for name, count in Counter(header).items():
            if count > 1:
                raise BadInput(self.name, 1, name, f"column name appears {count} times in the header")
        for column in self.kind.columns:
            if not column.optional and column.name not in header:
                raise BadInput(self.name, 1, column.name, "required column missing from the header")
        unknown = [name for name in header if name not in known]
        if unknown:
            # The source may grow columns; they are not ours to load.
            logger.warning("%s: ignoring unknown column(s) %s", self.name, ", ".join(unknown))
        return header, 1, eol

    # ------------------------------------------------------------- the lines ----

    def _stream(self) -> Iterator[bytes]:
        """The COPY data: chunks of lines while they pass the chunk checks, less the copies already sent
        (_lines_to_send); line by line, with every copy, from the first chunk that doesn't pass."""
        chunks = self._raw_chunks()
        shape, left_out, pieces_per_line = self._chunk_patterns()
        window: dict[bytes, int] = {}
        for chunk in chunks:
            lines = self._loaded_parts(chunk, left_out, pieces_per_line) if self._chunk_is_plain(chunk) else None
            if lines is not None:
                first_copies, sent = self._lines_to_send(lines, window)
                first = self._line_no + 1
                numbers = [first + index for index in sent]
                data = b"".join(map(b'"%s%d",%s\n'.__mod__,
                                    zip(self._skipped_line_ends(numbers), numbers, map(lines.__getitem__, sent),
                                        strict=True)))
                if shape.fullmatch(data):
                    self._line_no += len(lines)
                    self._last_sent = numbers[-1] if numbers else self._last_sent
                    self.stats.copies_dropped += len(lines) - len(sent)
                    window = first_copies
                    yield data
                    continue
            yield from self._rows_one_by_one(chain([chunk], chunks))
            break
        self.close()

    def _skipped_line_ends(self, numbers: list[int]) -> Iterator[bytes]:
        """Before each line to send (`numbers`: their physical lines, in order), a line end for every line
        not sent since the last: inside the quotes of the line's number, where COPY counts them as lines
        and the number's input takes them for blanks, they keep COPY's line numbers the file's."""
        previous = [self._last_sent, *numbers[:-1]]
        return map(self._eol.__mul__, map(int.__sub__, numbers, map((1).__add__, previous)))

    @staticmethod
    def _lines_to_send(lines: list[bytes], window: dict[bytes, int]) -> tuple[dict[bytes, int], list[int]]:
        """Which lines of a chunk to send: the first of the lines identical byte for byte in what is loaded (the
        file's own id column and unknown columns aside), unless the previous chunk had it too (`window`: it was
        sent then or before). The source repeats an order within about a thousand lines, and a chunk holds
        several thousand, so its copies go no further than here: the merge would drop them, and counts them from
        stats.copies_dropped. Returns the chunk's distinct lines, each with the index of its first copy (the
        next chunk's window), and the indexes of the lines to send, in file order."""
        first_copies = dict(zip(reversed(lines), range(len(lines) - 1, -1, -1), strict=True))
        return first_copies, sorted(index for line, index in first_copies.items() if line not in window)

    def _raw_chunks(self) -> Iterator[bytes]:
        """The rest of the file in chunks of whole lines (the file's last line may lack its line end), hashed."""
        first = not self.kind.has_header
        while block := self._file.read(CHUNK_SIZE):
            if not block.endswith(b"\n"):
                block += self._file.readline(LONGEST_LINE)  # the rest of the chunk's last line
            self.stats.sha256.update(block)
            if first:
                block, first = block.removeprefix(BOM), False
            if not block.endswith(b"\n"):
                if self._file.peek(1):
                    raise BadInput(self.name, self._line_no + block.count(b"\n") + 1, None,
                                   f"line longer than {LONGEST_LINE >> 20} MiB")
                block += self._eol  # the file's last line, without its line end
            yield block

    def _chunk_patterns(self) -> tuple[re.Pattern, re.Pattern, int]:
        """For chunks of unquoted lines: a regex that the data sent for well-formed lines matches whole (each
        line's quoted number, see _skipped_line_ends, then its fields to load and a line end: every line has a
        comma, so a blank line never does); one to split a chunk at each line end up to the line's last field
        not to load (the file's line number, unknown columns), keeping in groups the runs of fields to load
        before it; and how many pieces that leaves a line."""
        checks = [column.syntax.in_chunk or column.syntax.pattern for _, column in self._present]
        # The first and last fields stop at the line end, which must be the file's own (COPY takes one kind).
        checks[0] = checks[0].replace("[^,]", r"[^,\n]")
        checks[-1] = checks[-1].replace("[^,]", r"[^,\r\n]")
        eol = re.escape(self._eol.decode())
        shape = re.compile(f'(?:"(?:{eol})*+[0-9]++",{",".join(checks)}{eol})*+'.encode())
        loaded = {position for position, _ in self._present}
        left_out = [position for position in range(len(self._header)) if position not in loaded]
        if not left_out:
            return shape, re.compile(rb"\n(?!\Z)"), 1  # not the chunk's last line end, as below
        parts, started, groups = [r"\n"], False, 0
        for position in range(left_out[-1] + 1):
            field = (r"[^,\r\n]*+" if position == len(self._header) - 1 else r"[^,\n]*+")
            comma = "," if position else ""
            if position in loaded:
                run_starts, run_ends = position - 1 not in loaded, position + 1 not in loaded
                # The comma before a field to load goes along with it, unless nothing came before.
                parts.append((comma + "(" if not started else "(" + comma) if run_starts else comma)
                parts.append(field + (")" if run_ends else ""))
                started, groups = True, groups + run_starts
            else:
                parts.append(comma + field)
        if not started:
            parts.append(",")  # the rest of the line starts with the comma of a field to load
        return shape, re.compile("".join(parts).encode()), groups + 1

    @staticmethod
    def _loaded_parts(chunk: bytes, left_out: re.Pattern, pieces_per_line: int) -> list[bytes] | None:
        """What COPY is to load of each line of a chunk: its fields to load, comma-separated, with the
        carriage return of a CRLF line end; None when a line does not split (short of fields, blank)."""
        pieces = left_out.split(chunk)
        # The first line has no line end before it: it stays whole, and is split on its own.
        pieces[:1] = left_out.split(b"\n" + pieces[0])[1:]
        pieces[-1] = pieces[-1][:-1]  # the chunk's last line end
        # A line short of fields does not split, and would go along with the line before: not unnoticed.
        if len(pieces) != chunk.count(b"\n") * pieces_per_line:
            return None
        if pieces_per_line == 1:
            return pieces
        return list(map(b"".join, zip(*[iter(pieces)] * pieces_per_line, strict=True)))

    def _chunk_is_plain(self, chunk: bytes) -> bool:
        """No quotes or NUL bytes, and UTF-8. (A carriage return inside a field COPY refuses, with its line.)"""
        if b'"' in chunk or b"\0" in chunk:
            return False
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return False
        return True

    def _rows_one_by_one(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The rest of the file through the csv module: every row checked, the first problem worded."""
        records = csv.reader(self._text_lines(chunks), strict=True)
        buffer = io.StringIO()
        eol = self._eol.decode()
        writer = csv.writer(buffer, lineterminator=eol)
        width = len(self._header)
        blank_lines = self._line_no - self._last_sent  # the copies left out at the end of the chunks before
        while True:
            first_line = self._line_no + 1  # where the next record starts
            try:
                record = next(records, None)
            except csv.Error as error:
                # A quote opened and never closed takes the lines after it into its field: the record
                # is named by the line it began on, not by the one where the csv module gave up.
                problem = (f"malformed CSV: the record that starts on this line runs on to line {self._line_no}"
                           f" without ending (an unbalanced quote?): {error}" if self._line_no > first_line
                           else f"malformed CSV: {error}")
                raise BadInput(self.name, first_line, None, problem) from None
            if record is None:
                break
            if not record:
                blank_lines += 1  # carries nothing
                continue
            line = self._line_no
            if len(record) != width:
                raise BadInput(self.name, line, None, f"{len(record)} fields, expected {width}")
            for position, value in enumerate(record):
                if "\0" in value:
                    raise BadInput(self.name, line, self._header[position], "NUL byte")
            for position, column in self._present:
                value = record[position]
                if value == "" and not column.may_be_empty:
                    raise BadInput(self.name, line, column.name, EMPTY)
                if not column.syntax.matches(value):
                    raise BadInput(self.name, line, column.name, f"{value!r} is not a valid {column.syntax.name}")
            # COPY counts the line ends inside quotes as lines, so its line numbers stay the file's
            # if the line ends of the lines not sent ride along, as whitespace before the number.
            writer.writerow([eol * blank_lines + str(line)]
                            + [record[position] for position, _ in self._present])
            blank_lines = 0
            if buffer.tell() > CHUNK_SIZE:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    def _text_lines(self, chunks: Iterable[bytes]) -> Iterator[str]:
        """The physical lines of the chunks as text, counted; fails on non-UTF-8 with its line."""
        for chunk in chunks:
            for line_without_end in chunk.split(b"\n")[:-1]:  # each chunk ends with a line end
                self._line_no += 1
                raw_line = line_without_end + b"\n"
                try:
                    yield raw_line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise BadInput(self.name, self._line_no, None,
                                   f"not UTF-8 (byte 0x{raw_line[error.start]:02x} at offset {error.start})") from None
