"""The report API client against the local API server and against a fault-injecting stub."""
from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from salesmart.dev.api_server import make_server
from salesmart.dev.generate import generate
from salesmart.report_api import INCREMENT_FILES, REPORT_FILES, ApiCredentials, ReportApiClient, ReportApiError

SECRET_KEY = "sk-test-5ecret-d0-not-leak"
CREDENTIALS = ApiCredentials(nickname="tester", cohort="7", api_key=SECRET_KEY)
START = date(2023, 3, 1)
REPORT_DAYS = 3
FIRST_INCREMENT = START + timedelta(days=REPORT_DAYS)
ATTEMPTS = 3


def _client(base_url: str, credentials: ApiCredentials = CREDENTIALS, **overrides: float) -> ReportApiClient:
    settings = {"poll_interval": 0.01, "poll_deadline": 5.0, "attempts": ATTEMPTS, "backoff": 0.01, "timeout": 5.0}
    settings.update(overrides)
    return ReportApiClient(base_url, credentials, **settings)


def _api_headers(api_key: str = SECRET_KEY) -> dict[str, str]:
    return {"X-Nickname": "tester", "X-Cohort": "7", "X-Project": "True", "X-API-KEY": api_key}


def _serve_in_background(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- against the local API server -------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("api")
    generate(root / "data", days=2, orders_per_day=20, seed=3, start=START, report_days=REPORT_DAYS)
    (root / "outside.txt").write_text("not to be served")
    return root / "data"


@pytest.fixture(scope="module")
def api(data) -> Iterator[str]:
    yield from _serve_in_background(make_server(data, 0, CREDENTIALS, running_polls=2))


def test_report_is_generated_polled_and_downloaded(api, data, tmp_path):
    with _client(api) as client:
        report = client.wait_report(client.generate_report())
        assert report.start_day == START
        assert report.end_date == START + timedelta(days=REPORT_DAYS - 1)
        assert set(report.files) == set(REPORT_FILES)
        for name, url in report.files.items():
            downloaded = client.download(url, tmp_path / f"{name}.csv")
            assert downloaded.read_bytes() == (data / "report" / f"{name}.csv").read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{name}.csv" for name in REPORT_FILES)


def test_report_answers_running_before_success(api):
    task_id = requests.post(f"{api}/generate_report", headers=_api_headers(), timeout=5).json()["task_id"]
    statuses = [
        requests.get(f"{api}/get_report", params={"task_id": task_id}, headers=_api_headers(),
                     timeout=5).json()["status"]
        for _ in range(3)
    ]
    assert statuses == ["RUNNING", "RUNNING", "SUCCESS"]


def test_increment_is_fetched_and_downloaded(api, data, tmp_path):
    with _client(api) as client:
        report = client.wait_report(client.generate_report())
        files = client.get_increment(report.report_id, FIRST_INCREMENT)
        assert set(files) == set(INCREMENT_FILES)
        downloaded = client.download(files["user_order_log_inc"], tmp_path / "orders.csv")
    expected = data / "increments" / FIRST_INCREMENT.isoformat() / "user_order_log_inc.csv"
    assert downloaded.read_bytes() == expected.read_bytes()


def test_missing_increment_is_not_found(api):
    missing_day = FIRST_INCREMENT + timedelta(days=30)
    answer = requests.get(
        f"{api}/get_increment",
        params={"report_id": "any", "date": f"{missing_day}T00:00:00"},
        headers=_api_headers(),
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json() == {"report_id": "any", "date": f"{missing_day}T00:00:00", "status": "NOT FOUND"}

    with _client(api) as client, pytest.raises(
            ReportApiError, match=f"get_increment {missing_day}: still NOT FOUND after {ATTEMPTS} attempts"):
        client.get_increment("any", missing_day)


def test_replaced_file_is_delivered_anew(api, data, tmp_path):
    increment = data / "increments" / (FIRST_INCREMENT + timedelta(days=1)).isoformat()
    research = increment / "customer_research_inc.csv"
    original = research.read_bytes()
    with _client(api) as client:
        url = client.get_increment("any", FIRST_INCREMENT + timedelta(days=1))["customer_research_inc"]
        try:
            research.write_bytes(b"date_id,category_id,geo_id,sales_qty,sales_amt\r\n")
            assert client.download(url, tmp_path / "research.csv").read_bytes().count(b"\r\n") == 1
        finally:
            research.write_bytes(original)


def test_api_calls_need_the_identity_headers(api):
    for headers in ({}, _api_headers(api_key="wrong-key"), {**_api_headers(), "X-Project": "False"}):
        answer = requests.post(f"{api}/generate_report", headers=headers, timeout=5)
        assert answer.status_code == 403
        assert "error" in answer.json()
        assert SECRET_KEY not in answer.text and "wrong-key" not in answer.text


def test_unknown_task_is_404(api):
    answer = requests.get(f"{api}/get_report", params={"task_id": "nope"}, headers=_api_headers(), timeout=5)
    assert answer.status_code == 404


def test_files_need_no_headers_and_stay_inside_the_data_folder(api):
    assert requests.get(f"{api}/files/report/price_log.csv", timeout=5).status_code == 200
    host, port = urlsplit(api).netloc.split(":")
    for target in ("/files/../outside.txt", "/files/%2e%2e/outside.txt", "/files/report/../../outside.txt"):
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", target)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status in (403, 404), target
        assert b"not to be served" not in body


# --- against a fault-injecting stub --------------------------------------------------


@dataclass
class StubReply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    # Announce more bytes than sent, then hang up: a download cut short.
    declared_length: int | None = None


def json_reply(body: Any, status: int = 200) -> StubReply:
    return StubReply(status=status, body=json.dumps(body).encode())


Script = Callable[[str, int], StubReply]


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: Counter[str] = Counter()
        self.headers_by_path: dict[str, list[dict[str, str]]] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _StubHandler)


class _StubHandler(BaseHTTPRequestHandler):
    server: _StubServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        """Quiet: the tests inspect calls, not access logs."""

    def _answer(self) -> None:
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.calls[path] += 1
            number = self.server.calls[path]
            self.server.headers_by_path.setdefault(path, []).append(dict(self.headers))
        reply = self.server.script(path, number)
        time.sleep(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        if reply.declared_length:
            self.close_connection = True


@pytest.fixture
def stub() -> Iterator[Callable[[Script], tuple[_StubServer, str]]]:
    running: list[Iterator[str]] = []

    def start(script: Script) -> tuple[_StubServer, str]:
        server = _StubServer(script)
        serving = _serve_in_background(server)
        running.append(serving)
        return server, next(serving)

    yield start
    for serving in running:
        next(serving, None)


def test_running_past_the_deadline_fails(stub):
    server, url = stub(lambda path, number: json_reply({"task_id": "t1", "status": "RUNNING"}))
    with _client(url, poll_interval=0.02, poll_deadline=0.1) as client, \
            pytest.raises(ReportApiError, match=r"get_report t1: still RUNNING after the poll deadline of 0.1s"):
        client.wait_report("t1")
    assert server.calls["/get_report"] >= 2


def test_server_errors_are_retried_until_success(stub):
    def script(path: str, number: int) -> StubReply:
        if number <= 2:
            return json_reply({"error": "busy"}, status=500)
        return json_reply({"task_id": "t42"})

    server, url = stub(script)
    with _client(url) as client:
        assert client.generate_report() == "t42"
    assert server.calls["/generate_report"] == 3


def test_server_errors_beyond_the_attempts_fail(stub):
    server, url = stub(lambda path, number: json_reply({"error": "down"}, status=503))
    with _client(url) as client, pytest.raises(
            ReportApiError, match=f"generate_report: still HTTP 503 .* after {ATTEMPTS} attempts") as raised:
        client.generate_report()
    assert server.calls["/generate_report"] == ATTEMPTS
    assert raised.value.retryable       # a scheduler may try again later


def test_timeouts_are_retried(stub):
    def script(path: str, number: int) -> StubReply:
        return json_reply({"task_id": "slow"}, status=200) if number > 1 else StubReply(delay=0.5)

    server, url = stub(script)
    with _client(url, timeout=0.1) as client:
        assert client.generate_report() == "slow"
    assert server.calls["/generate_report"] == 2


def test_not_found_forever_fails_after_the_attempts(stub):
    server, url = stub(lambda path, number: json_reply({"report_id": "r", "date": "x", "status": "NOT FOUND"}))
    with _client(url) as client, pytest.raises(
            ReportApiError, match=f"get_increment 2023-03-06: still NOT FOUND after {ATTEMPTS} attempts") as raised:
        client.get_increment("r", date(2023, 3, 6))
    assert server.calls["/get_increment"] == ATTEMPTS
    assert raised.value.retryable


def test_find_increment_asks_once_and_retries_only_server_errors(stub):
    def script(path: str, number: int) -> StubReply:
        if number == 1:
            return json_reply({"error": "busy"}, status=502)
        return json_reply({"report_id": "r", "date": "x", "status": "NOT FOUND"})

    server, url = stub(script)
    with _client(url) as client:
        assert client.find_increment("r", date(2023, 3, 6)) is None
    assert server.calls["/get_increment"] == 2


@pytest.mark.parametrize("status", [401, 403])
def test_forbidden_fails_at_once_and_for_good(stub, status):
    server, url = stub(lambda path, number: json_reply({"error": "forbidden"}, status=status))
    with _client(url) as client, pytest.raises(ReportApiError, match=f"get_report t1: HTTP {status}") as raised:
        client.wait_report("t1")
    assert server.calls["/get_report"] == 1
    assert not raised.value.retryable


def test_download_retries_and_leaves_no_partial_file(stub, tmp_path):
    content = b"item,1\r\n" * 1000

    def script(path: str, number: int) -> StubReply:
        if number == 1:
            return StubReply(status=502)
        if number == 2:
            return StubReply(body=content[:100], declared_length=len(content))
        return StubReply(body=content)

    server, url = stub(script)
    with _client(url) as client:
        downloaded = client.download(f"{url}/bucket/price_log.csv?X-Signature=abc", tmp_path / "price_log.csv")
        assert downloaded.read_bytes() == content
    assert server.calls["/bucket/price_log.csv"] == 3
    assert [path.name for path in tmp_path.iterdir()] == ["price_log.csv"]
    # The file host is not the API: it never sees the API headers.
    assert all("X-API-KEY" not in headers for headers in server.headers_by_path["/bucket/price_log.csv"])


def test_failed_download_leaves_nothing(stub, tmp_path):
    _, url = stub(lambda path, number: StubReply(body=b"partial", declared_length=1000))
    with _client(url) as client, pytest.raises(ReportApiError, match="download orders.csv: still network failure"):
        client.download(f"{url}/orders.csv", tmp_path / "orders.csv")
    assert list(tmp_path.iterdir()) == []


def _messages(error: BaseException | None) -> Iterator[str]:
    while error is not None:
        yield str(error)
        yield repr(error)
        error = error.__cause__ or error.__context__


def test_the_api_key_never_reaches_errors_or_logs(stub, caplog, capsys):
    echo = json.dumps({"error": f"bad key {SECRET_KEY}"}).encode()
    scripts: list[Script] = [
        lambda path, number: json_reply({"error": "forbidden"}, status=403),
        lambda path, number: json_reply({"error": "down"}, status=500),
        lambda path, number: StubReply(status=400, body=echo),
        lambda path, number: StubReply(status=200, body=b"<html>" + SECRET_KEY.encode()),
        lambda path, number: json_reply({"status": "NOT FOUND"}),
    ]
    caplog.set_level(logging.DEBUG)
    failures: list[ReportApiError] = []
    for script in scripts:
        _, url = stub(script)
        with _client(url) as client:
            for call in (client.generate_report, lambda: client.get_increment("r", START)):
                with pytest.raises(ReportApiError) as caught:
                    call()
                failures.append(caught.value)
    with _client("http://127.0.0.1:9", timeout=0.5) as client, pytest.raises(ReportApiError) as unreachable:
        client.generate_report()
    failures.append(unreachable.value)

    assert any("***" in str(failure) for failure in failures), "an echoed key is redacted, not dropped silently"
    for failure in failures:
        for message in _messages(failure):
            assert SECRET_KEY not in message
    captured = capsys.readouterr()
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in captured.out + captured.err
    assert SECRET_KEY not in repr(CREDENTIALS)


def test_a_malformed_file_url_fails_as_a_report_api_error_without_its_query(tmp_path):
    client = ReportApiClient("http://127.0.0.1:9", ApiCredentials("nick", "1", "key"), attempts=1)
    signed = "htp://bucket.example/report.csv?X-Amz-Signature=SECRET"
    with pytest.raises(ReportApiError) as raised:
        client.download(signed, tmp_path / "report.csv")
    assert "download report.csv" in str(raised.value)
    # What a log of the failure shows, chained exceptions included (as Airflow prints them).
    assert "SECRET" not in "".join(traceback.format_exception(raised.value))
