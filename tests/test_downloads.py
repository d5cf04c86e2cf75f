"""Downloads wait for their load in salesmart's own folder (SALESMART_DOWNLOAD_DIR), never in the temp
folder, and what a killed run left there goes when the next run starts, while the files of a run that
is still alive stay."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from test_faults import REPO, pause_at, paused_session, unpause
from test_pipeline import api, api_env, ok  # noqa: F401 - api is a fixture

HOLD_A_RUN_FOLDER = """
import sys, time
from salesmart.downloads import run_folder
with run_folder() as folder:
    (folder / "alive.csv").write_text("still needed")
    print(folder, flush=True)
    time.sleep(120)
"""


def test_a_killed_runs_downloads_go_when_the_next_run_starts(api, dsn, db, tmp_path):  # noqa: F811
    base_url, _ = api
    temp, downloads = tmp_path / "tmp", tmp_path / "downloads"
    temp.mkdir()
    env = api_env(dsn, base_url) | {"TMPDIR": str(temp), "SALESMART_DOWNLOAD_DIR": str(downloads)}

    pause_at(db, "mart.f_customer_retention")          # in the load, after every download
    killed = subprocess.Popen([sys.executable, "-m", "salesmart", "load-report"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        paused_session(db)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
    finally:
        killed.kill()
        killed.wait()
    unpause(db, "mart.f_customer_retention")
    assert [path for path in temp.rglob("*") if path.is_file()] == [], "the killed run left files in the temp folder"
    assert len(list(downloads.rglob("*.csv"))) == 4, "the killed run's downloads are in salesmart's folder"

    alive = subprocess.Popen([sys.executable, "-c", HOLD_A_RUN_FOLDER], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             text=True)
    try:
        alive_folder = Path(alive.stdout.readline().strip())
        ok(env, "load-report")
        assert sorted(downloads.rglob("*.csv")) == [alive_folder / "alive.csv"], \
            "the next run cleared the dead run's downloads, its own, and nothing of the live run"
    finally:
        alive.kill()
        alive.communicate()
    assert [path for path in temp.rglob("*") if path.is_file()] == []
