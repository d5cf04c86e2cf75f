"""Where downloaded files wait for their load: one folder of salesmart's own,
SALESMART_DOWNLOAD_DIR (default: salesmart/downloads in the user's cache
folder, $XDG_CACHE_HOME or ~/.cache), never the shared temp folder.

Each run downloads into a folder of its own inside it and removes it when it
ends. A run that is killed cannot: the next run that starts removes what it
left. Whether a run is still alive is told by a lock, not a pid: each run
holds an exclusive flock on its folder for as long as its process lives, and
the kernel drops the lock when the process dies, however it dies. So runs on
one machine may share the folder; it must be on a local file system.
"""
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

DOWNLOAD_DIR = "SALESMART_DOWNLOAD_DIR"
RUN_PREFIX = "run-"


def downloads_root() -> Path:
    configured = os.environ.get(DOWNLOAD_DIR)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "salesmart" / "downloads"


@contextmanager
def run_folder() -> Iterator[Path]:
    """A new folder for this run's downloads, removed when the block ends. What dead runs left goes first."""
    root = downloads_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The root's own lock keeps a run from being cleared between the creation
    # of its folder and the taking of the folder's lock.
    with _locked(root / ".lock"):
        _clear_dead_runs(root)
        folder = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=root))
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(handle)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _clear_dead_runs(root: Path) -> None:
    for folder in sorted(root.glob(f"{RUN_PREFIX}*")):
        try:
            handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue  # gone meanwhile, or not a folder: not a run's
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live run's
        else:
            size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
            logger.info("removing %s: the downloads of a run that ended without removing them (%.1f MiB)",
                        folder, size / (1 << 20))
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(handle)
