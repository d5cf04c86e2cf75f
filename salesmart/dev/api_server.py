"""A local report API over a folder of CSV files, for tests and demos.

The folder is laid out as `generate` writes it::

    DATA/report/{customer_research,user_order_log,user_activity_log,price_log}.csv
    DATA/increments/YYYY-MM-DD/{customer_research,user_order_log,user_activity_log,price_log}_inc.csv

API calls need the four identity headers of the real API; the file URLs it
hands out (`/files/...`, served by the same server in place of S3) need none.
Everything is read from disk at request time, so replacing a file or an
increment folder re-delivers it, and an increment is offered as soon as its
folder holds all four files.

Behaviour of this stand-in where the real API gives no hint:
- a report task answers RUNNING to its first `running_polls` polls, then
  SUCCESS; its start_day/end_date are the dates of the first and last data
  line of report/user_order_log.csv (the file is in date order);
- get_increment accepts any report_id: the folder holds one report only, and
  a client that kept a report_id across a server restart keeps working.
"""
from __future__ import annotations

import csv
import hmac
import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from salesmart.report_api import INCREMENT_FILES, REPORT_FILES, ApiCredentials

logger = logging.getLogger(__name__)

FILES_PREFIX = "/files/"
STREAM_CHUNK_BYTES = 1024 * 1024
# Reading backwards from the end of the order log to find its last line.
TAIL_BLOCK_BYTES = 64 * 1024
API_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class _ReportTask:
    report_id: str
    polls: int = 0


class ReportApiServer(ThreadingHTTPServer):
    """Serves one data folder; holds the report tasks created so far."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], data: Path, credentials: ApiCredentials, running_polls: int):
        self.data_root = data.resolve()
        self.credentials = credentials
        self.running_polls = running_polls
        self.tasks: dict[str, _ReportTask] = {}
        self.tasks_lock = threading.Lock()
        super().__init__(address, _ReportApiHandler)

    def file_url(self, relative: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{FILES_PREFIX}{quote(relative)}"


def make_server(data: Path, port: int, credentials: ApiCredentials, running_polls: int = 1) -> ReportApiServer:
    """A server for `data` on 127.0.0.1:`port` (0 picks a free port), not yet serving."""
    if not data.is_dir():
        raise NotADirectoryError(f"report API data folder {data} is not a directory")
    return ReportApiServer(("127.0.0.1", port), data, credentials, running_polls)


def serve(data: Path, port: int, credentials: ApiCredentials, running_polls: int = 1) -> None:
    """Serve `data` on 127.0.0.1:`port` until interrupted."""
    with make_server(data, port, credentials, running_polls) as server:
        host, bound_port = server.server_address[:2]
        logger.info("report API for %s at http://%s:%d", server.data_root, host, bound_port)
        server.serve_forever()


class _ReportApiHandler(BaseHTTPRequestHandler):
    server: ReportApiServer
    # Keep-alive lets a client session reuse its connection between polls.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._discard_body()
        path, _ = self._split_target()
        if path == "/generate_report":
            if self._authorized():
                self._generate_report()
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: POST {path}"})

    def do_GET(self) -> None:
        path, query = self._split_target()
        if path.startswith(FILES_PREFIX):
            self._send_file(unquote(path[len(FILES_PREFIX):]))
        elif path == "/get_report":
            if self._authorized():
                self._get_report(query)
        elif path == "/get_increment":
            if self._authorized():
                self._get_increment(query)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: GET {path}"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        # The request line and status only: headers carry the API key.
        logger.info("%s %s", self.address_string(), format % args)

    def _split_target(self) -> tuple[str, dict[str, list[str]]]:
        target = urlsplit(self.path)
        return target.path, parse_qs(target.query)

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _authorized(self) -> bool:
        credentials = self.server.credentials
        expected = {
            "X-Nickname": credentials.nickname,
            "X-Cohort": credentials.cohort,
            "X-Project": "True",
            "X-API-KEY": credentials.api_key,
        }
        wrong = [
            name
            for name, value in expected.items()
            if not hmac.compare_digest(self.headers.get(name, "").encode(), value.encode())
        ]
        if wrong:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": f"missing or wrong header(s): {', '.join(wrong)}"})
            return False
        return True

    def _generate_report(self) -> None:
        task_id = uuid.uuid4().hex
        with self.server.tasks_lock:
            self.server.tasks[task_id] = _ReportTask(report_id=uuid.uuid4().hex)
        self._send_json(HTTPStatus.OK, {"task_id": task_id})

    def _get_report(self, query: dict[str, list[str]]) -> None:
        task_id = _single(query, "task_id")
        if task_id is None:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "task_id is required"})
            return
        with self.server.tasks_lock:
            task = self.server.tasks.get(task_id)
            if task is not None:
                task.polls += 1
                polls = task.polls
        if task is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"task_id": task_id, "error": "unknown task_id"})
            return
        if polls <= self.server.running_polls:
            self._send_json(HTTPStatus.OK, {"task_id": task_id, "status": "RUNNING"})
            return

        report_folder = self.server.data_root / "report"
        missing = [name for name in REPORT_FILES if not (report_folder / f"{name}.csv").is_file()]
        if missing:
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"report files missing: {', '.join(missing)}"})
            return
        try:
            first_day, last_day = _first_and_last_date(report_folder / "user_order_log.csv")
        except (ValueError, IndexError) as error:
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                            {"error": f"unreadable report/user_order_log.csv: {error}"})
            return
        self._send_json(
            HTTPStatus.OK,
            {
                "task_id": task_id,
                "status": "SUCCESS",
                "data": {
                    "report_id": task.report_id,
                    "start_day": first_day.strftime(API_TIMESTAMP_FORMAT),
                    "end_date": last_day.strftime(API_TIMESTAMP_FORMAT),
                    "s3_path": {name: self.server.file_url(f"report/{name}.csv") for name in REPORT_FILES},
                },
            },
        )

    def _get_increment(self, query: dict[str, list[str]]) -> None:
        report_id = _single(query, "report_id")
        requested = _single(query, "date")
        if report_id is None or requested is None:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "report_id and date are required"})
            return
        try:
            day = datetime.fromisoformat(requested).date()
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "date must look like YYYY-MM-DDT00:00:00"})
            return

        folder = f"increments/{day.isoformat()}"
        available = all((self.server.data_root / folder / f"{name}.csv").is_file() for name in INCREMENT_FILES)
        answer: dict[str, Any] = {"report_id": report_id, "date": requested}
        if available:
            answer["status"] = "SUCCESS"
            answer["data"] = {
                "increment_id": f"{report_id}-{day:%Y%m%d}",
                "s3_path": {name: self.server.file_url(f"{folder}/{name}.csv") for name in INCREMENT_FILES},
            }
        else:
            answer["status"] = "NOT FOUND"
        self._send_json(HTTPStatus.OK, answer)

    def _send_file(self, relative: str) -> None:
        root = self.server.data_root
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "path outside the data folder"})
            return
        try:
            handle = target.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such file: {relative}"})
            return
        with handle:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            # The size of the opened file: a replacement renamed in meanwhile does not mix in.
            self.send_header("Content-Length", str(os.fstat(handle.fileno()).st_size))
            self.end_headers()
            try:
                shutil.copyfileobj(handle, self.wfile, STREAM_CHUNK_BYTES)
            except (BrokenPipeError, ConnectionResetError):
                logger.info("client left during download of %s", relative)
                self.close_connection = True

    def _send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _first_and_last_date(order_log: Path) -> tuple[datetime, datetime]:
    """Dates of the first and last data line, reading only the file's two ends."""
    with order_log.open("rb") as handle:
        header = handle.readline()
        first_line = handle.readline()
        if not first_line.strip():
            raise ValueError(f"{order_log.name} has no data lines")
        last_line = _last_line(handle)
    columns = next(csv.reader([header.decode("utf-8")]))
    if "date_time" not in columns:
        raise ValueError(f"{order_log.name} has no date_time column")
    position = columns.index("date_time")
    first, last = (
        datetime.fromisoformat(next(csv.reader([line.decode("utf-8")]))[position]) for line in (first_line, last_line)
    )
    return first, last


def _last_line(handle: BinaryIO) -> bytes:
    end = handle.seek(0, os.SEEK_END)
    tail = b""
    position = end
    while position > 0:
        step = min(TAIL_BLOCK_BYTES, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        body = tail.rstrip(b"\r\n")
        newline = body.rfind(b"\n")
        if newline >= 0:
            return body[newline + 1:]
    return tail.rstrip(b"\r\n")
