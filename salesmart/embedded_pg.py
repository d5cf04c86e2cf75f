"""A private PostgreSQL cluster for the demo and the test-suite.

The cluster lives in a folder of its own; it is created on first use and
reused after. PostgreSQL refuses to run as root, so as root every server
command runs as the `postgres` OS user, who must own the folder.
"""
import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

# Settings that trade durability for speed: only for throw-away clusters.
UNSAFE_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """PG_BIN, else `pg_config --bindir`, else the usual install paths."""
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(bindir.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
                         reverse=True)
    candidates += [Path("/usr/local/pgsql/bin"), Path("/opt/homebrew/bin"), Path("/usr/local/bin")]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise EmbeddedPostgresError(
        "PostgreSQL server programs (initdb, pg_ctl) not found. Install the PostgreSQL server "
        "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) "
        "or point PG_BIN at the folder that holds them.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedPostgres:
    """A cluster in `folder` (data, socket and log), served on 127.0.0.1."""

    def __init__(self, folder: Path, *, server_options: str = ""):
        self.folder = Path(folder).resolve()
        self.data_dir = self.folder / "data"
        self.log_file = self.folder / "server.log"
        self.server_options = server_options
        self.bin_dir = find_bin_dir()
        self.as_postgres_user = os.geteuid() == 0

    @property
    def port(self) -> int:
        # postmaster.pid's fourth line is the port the running server listens on.
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])

    @property
    def user(self) -> str:
        return "postgres"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def is_running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> "EmbeddedPostgres":
        if not (self.data_dir / "PG_VERSION").exists():
            self._init()
        if self.is_running():
            logger.info("PostgreSQL already running on port %s (%s)", self.port, self.data_dir)
            return self
        port = free_port()
        options = f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 {self.server_options}"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options)
        logger.info("PostgreSQL started on port %s (%s)", port, self.data_dir)
        return self

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))

    def _init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_postgres_user:
            shutil.chown(self.folder, "postgres")
        logger.info("creating a PostgreSQL cluster in %s", self.data_dir)
        # Trust, and only loopback listens: a throw-away cluster for the demo and
        # the tests, open to every user of this machine, to nobody beyond it.
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale", "C")

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / program), *args]
        if self.as_postgres_user:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                + (f"; see {self.log_file}" if program == "pg_ctl" else ""))
        return result
