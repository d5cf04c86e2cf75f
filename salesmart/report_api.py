"""Client of the report API: order a report, fetch increments, download files.

Transient trouble (HTTP 5xx or 429, connection errors, timeouts, an increment
still `NOT FOUND`) is retried with exponential backoff; a report still
`RUNNING` is polled until a deadline.  Every failure ends in one exception
class, `ReportApiError`, whose message names the call.  The API key travels
only in the request headers of API calls: it is never logged, never put in an
error message, and never sent to the file URLs (they may point to another
host, such as S3).
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from salesmart import progress

logger = logging.getLogger(__name__)

REPORT_FILES = ("customer_research", "user_order_log", "user_activity_log", "price_log")
INCREMENT_FILES = tuple(f"{name}_inc" for name in REPORT_FILES)

DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# Enough of an unexpected answer's body to explain it, not to flood a log.
BODY_EXCERPT_CHARS = 200

T = TypeVar("T")


@dataclass(frozen=True)
class ApiCredentials:
    """Identity sent with every API call; the key is kept out of repr()."""

    nickname: str
    cohort: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class Report:
    """A ready full report: the days it covers and its files (name -> URL)."""

    report_id: str
    start_day: date
    end_date: date
    files: dict[str, str]


class ReportApiError(Exception):
    """A report API call failed; the message names the call.

    `retryable` tells a scheduler whether trying again later may help: True
    when the call ran out of attempts on trouble that passes (HTTP 5xx or
    429, network failures, timeouts, an increment still `NOT FOUND`); False
    when the answer will not change (HTTP 401/403 and other 4xx, an answer
    that breaks the contract, a report past its poll deadline).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class _TransientFailure(Exception):
    """A failure worth another attempt; the message says what happened."""


class ReportApiClient:
    """Calls the report API at `base_url`.

    `poll_interval` and `poll_deadline` (seconds) bound the polling of a
    report that is `RUNNING`.  Each call is tried up to `attempts` times; the
    wait before the second attempt is `backoff` seconds and doubles after that.
    `timeout` (seconds) applies to connecting and to every read.
    """

    def __init__(
        self,
        base_url: str,
        credentials: ApiCredentials,
        *,
        poll_interval: float = 5.0,
        poll_deadline: float = 600.0,
        attempts: int = 5,
        backoff: float = 2.0,
        timeout: float = 30.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self._base_url = base_url.rstrip("/")
        self._api_key = credentials.api_key
        self._poll_interval = poll_interval
        self._poll_deadline = poll_deadline
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._api_session = requests.Session()
        self._api_session.headers.update(
            {
                "X-Nickname": credentials.nickname,
                "X-Cohort": credentials.cohort,
                "X-Project": "True",
                "X-API-KEY": credentials.api_key,
            }
        )
        # File URLs get no API headers: they may lead to a third-party host.
        self._download_session = requests.Session()

    def close(self) -> None:
        self._api_session.close()
        self._download_session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def generate_report(self) -> str:
        """Order a full report; return its task id."""
        call = "generate_report"
        answer = self._with_retries(call, lambda: self._request_json(call, "POST", "/generate_report"))
        task_id = answer.get("task_id")
        if not task_id:
            raise ReportApiError(f"{call}: the answer has no task_id")
        logger.info("%s: task %s", call, task_id)
        return str(task_id)

    def wait_report(self, task_id: str) -> Report:
        """Poll the report task until it succeeds or the poll deadline passes."""
        call = f"get_report {task_id}"
        deadline = time.monotonic() + self._poll_deadline
        while True:
            answer = self._with_retries(
                call, lambda: self._request_json(call, "GET", "/get_report", params={"task_id": task_id})
            )
            status = answer.get("status")
            if status == "SUCCESS":
                report = self._parse_report(call, answer)
                logger.info("%s: report %s covers %s..%s", call, report.report_id, report.start_day, report.end_date)
                return report
            if status != "RUNNING":
                raise ReportApiError(f"{call}: unexpected status {self._excerpt(str(status))!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReportApiError(f"{call}: still RUNNING after the poll deadline of {self._poll_deadline:g}s")
            pause = min(self._poll_interval, remaining)
            logger.info("%s: RUNNING, polling again in %.1fs", call, pause)
            time.sleep(pause)

    def get_increment(self, report_id: str, day: date) -> dict[str, str]:
        """File URLs of the increment for `day`, keyed as the API names them (`*_inc`);
        an increment still `NOT FOUND` is asked for again, with backoff."""
        call = f"get_increment {day.isoformat()}"

        def attempt() -> dict[str, str]:
            files = self._increment_files(call, report_id, day)
            if files is None:
                raise _TransientFailure("NOT FOUND")
            return files

        files = self._with_retries(call, attempt)
        logger.info("%s: increment ready", call)
        return files

    def find_increment(self, report_id: str, day: date) -> dict[str, str] | None:
        """Like get_increment, but asks once whether the increment exists: None
        while it is `NOT FOUND` (for a caller that waits on its own, such as an
        Airflow sensor). HTTP 5xx and network failures are still retried."""
        call = f"get_increment {day.isoformat()}"
        files = self._with_retries(call, lambda: self._increment_files(call, report_id, day))
        logger.info("%s: %s", call, "NOT FOUND" if files is None else "increment ready")
        return files

    def _increment_files(self, call: str, report_id: str, day: date) -> dict[str, str] | None:
        params = {"report_id": report_id, "date": f"{day.isoformat()}T00:00:00"}
        answer = self._request_json(call, "GET", "/get_increment", params=params)
        status = answer.get("status")
        if status == "NOT FOUND":
            return None
        if status != "SUCCESS":
            raise ReportApiError(f"{call}: unexpected status {self._excerpt(str(status))!r}")
        return self._parse_files(call, answer, INCREMENT_FILES)

    def download(self, url: str, dest: Path) -> Path:
        """Stream `url` into `dest`; `dest` appears (or is replaced) only once the download is complete."""
        call = f"download {dest.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> Path:
            with self._network_errors_are_transient(call), \
                    self._download_session.get(url, stream=True, timeout=self._timeout) as response:
                self._check_status(call, response)
                length = response.headers.get("Content-Length")
                with _partial_file_beside(dest) as partial:
                    for chunk in progress.byte_chunks(response.iter_content(chunk_size=DOWNLOAD_CHUNK_BYTES),
                                                      int(length) if length else None, dest.name):
                        partial.write(chunk)
            return dest

        # A signed file URL's query string is a credential of its own.
        logger.info("%s from %s", call, without_query(url))
        return self._with_retries(call, attempt)

    def _with_retries(self, call: str, action: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff),
            retry=retry_if_exception_type(_TransientFailure),
            before_sleep=self._log_retry(call),
            reraise=True,
        )
        try:
            return retrying(action)
        except _TransientFailure as failure:
            # Not chained: the network errors beneath name the URL, query string and all.
            raise ReportApiError(f"{call}: still {failure} after {self._attempts} attempts", retryable=True) from None

    def _log_retry(self, call: str) -> Callable[[RetryCallState], None]:
        def log(state: RetryCallState) -> None:
            logger.warning(
                "%s: %s (attempt %d of %d), retrying in %.1fs",
                call,
                state.outcome.exception() if state.outcome else "failed",
                state.attempt_number,
                self._attempts,
                state.next_action.sleep if state.next_action else 0.0,
            )

        return log

    def _request_json(
        self, call: str, method: str, path: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        with self._network_errors_are_transient(call):
            # Following a redirect would carry the API key headers to wherever it points.
            response = self._api_session.request(
                method, self._base_url + path, params=params, timeout=self._timeout, allow_redirects=False
            )
        self._check_status(call, response)
        try:
            answer = response.json()
        except ValueError:
            raise ReportApiError(f"{call}: the answer is not JSON: {self._excerpt(response.text)!r}") from None
        if not isinstance(answer, dict):
            raise ReportApiError(f"{call}: the answer is not a JSON object: {self._excerpt(response.text)!r}")
        return answer

    def _check_status(self, call: str, response: requests.Response) -> None:
        status = response.status_code
        if status >= 500 or status == 429:
            raise _TransientFailure(f"HTTP {status} {response.reason}")
        if status in (401, 403):
            raise ReportApiError(f"{call}: HTTP {status} {response.reason}: check the nickname, cohort and API key")
        if not 200 <= status < 300:
            raise ReportApiError(f"{call}: HTTP {status} {response.reason}: {self._excerpt(response.text)!r}")

    @contextmanager
    def _network_errors_are_transient(self, call: str) -> Iterator[None]:
        """Network trouble is worth another attempt; any other request failure
        (a malformed URL, too many redirects) is final. Neither is chained:
        requests' messages name the URL, query string and all."""
        try:
            yield
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            raise _TransientFailure(f"network failure ({type(error).__name__})") from None
        except (requests.RequestException, ValueError) as error:
            raise ReportApiError(f"{call}: request failed ({type(error).__name__})") from None

    def _excerpt(self, text: str) -> str:
        # An answer might echo request headers; the key must not reach a message.
        # Redact before cutting so that no key is cut in half and half kept.
        if self._api_key:
            text = text[: BODY_EXCERPT_CHARS + len(self._api_key)].replace(self._api_key, "***")
        return text[:BODY_EXCERPT_CHARS]

    def _parse_report(self, call: str, answer: dict[str, Any]) -> Report:
        try:
            data = answer["data"]
            return Report(
                report_id=str(data["report_id"]),
                start_day=datetime.fromisoformat(data["start_day"]).date(),
                end_date=datetime.fromisoformat(data["end_date"]).date(),
                files=self._parse_files(call, answer, REPORT_FILES),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ReportApiError(f"{call}: malformed SUCCESS answer ({type(error).__name__}: {error})") from None

    def _parse_files(self, call: str, answer: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
        try:
            files = {str(name): str(url) for name, url in answer["data"]["s3_path"].items()}
        except (KeyError, TypeError, AttributeError):
            raise ReportApiError(f"{call}: the SUCCESS answer has no data.s3_path") from None
        missing = [name for name in required if name not in files]
        if missing:
            raise ReportApiError(f"{call}: data.s3_path lacks {', '.join(missing)}")
        return files


@contextmanager
def _partial_file_beside(dest: Path) -> Iterator[Any]:
    """A temporary file next to `dest` that becomes `dest` only if the block completes."""
    # Not `with` at once: the file must outlive its handle, to become dest or be removed.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "wb", dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            yield handle
        os.replace(handle.name, dest)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def without_query(url: str) -> str:
    """The URL less its query string, which may hold a signature or token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
