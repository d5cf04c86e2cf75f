"""Configuration from the environment; never from code."""
import os
from dataclasses import dataclass

from salesmart.report_api import ApiCredentials, ReportApiClient


class ConfigError(RuntimeError):
    pass


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def database_url() -> str:
    return _required("DATABASE_URL")


def api_credentials() -> ApiCredentials:
    return ApiCredentials(nickname=_required("REPORT_API_NICKNAME"), cohort=_required("REPORT_API_COHORT"),
                          api_key=_required("REPORT_API_KEY"))


@dataclass(frozen=True)
class PollSettings:
    """How patiently to wait for the API: seconds, and attempts per call."""
    poll_interval: float = 5.0
    poll_deadline: float = 600.0
    attempts: int = 5
    backoff: float = 2.0
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> "PollSettings":
        defaults = cls()
        try:
            return cls(
                poll_interval=float(os.environ.get("REPORT_API_POLL_INTERVAL", defaults.poll_interval)),
                poll_deadline=float(os.environ.get("REPORT_API_POLL_DEADLINE", defaults.poll_deadline)),
                attempts=int(os.environ.get("REPORT_API_ATTEMPTS", defaults.attempts)),
                backoff=float(os.environ.get("REPORT_API_BACKOFF", defaults.backoff)),
                timeout=float(os.environ.get("REPORT_API_TIMEOUT", defaults.timeout)),
            )
        except ValueError as error:
            raise ConfigError(f"bad REPORT_API_* setting: {error}") from None

    def client(self, base_url: str, credentials: ApiCredentials) -> ReportApiClient:
        return ReportApiClient(base_url, credentials, poll_interval=self.poll_interval,
                               poll_deadline=self.poll_deadline, attempts=self.attempts,
                               backoff=self.backoff, timeout=self.timeout)


def report_api_client() -> ReportApiClient:
    return PollSettings.from_env().client(_required("REPORT_API_URL"), api_credentials())
