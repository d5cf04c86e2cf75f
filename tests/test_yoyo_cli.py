"""yoyo without DATABASE_URL fails with one line (through
`python -m salesmart yoyo`), and yoyo apply / rollback say what they did."""
from __future__ import annotations

import os
import subprocess
import sys

from test_migrations import REPO, migration_ids, yoyo_cli


def test_yoyo_without_database_url_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "salesmart", "yoyo", "list"], cwd=tmp_path,
                            env=dict(env, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("yoyo: error: DATABASE_URL is not set")


def test_yoyo_help_is_yoyos_own(tmp_path):
    """Options right after `yoyo` are yoyo's: its help, not the command line's refusal."""
    result = subprocess.run([sys.executable, "-m", "salesmart", "yoyo", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: yoyo ") and "rollback" in result.stdout


def test_yoyo_apply_and_rollback_say_what_they_did(empty_database, tmp_path):
    url = empty_database("yoyo_says")
    applied = yoyo_cli(url, "apply")
    assert applied.returncode == 0, applied.stderr
    assert [line.split("Applying ")[1] for line in applied.stderr.splitlines() if "Applying " in line] == \
        migration_ids()
    latest = migration_ids()[-1]
    rolled_back = yoyo_cli(url, "rollback", "--revision", latest)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert [line.split("Rolling back ")[1] for line in rolled_back.stderr.splitlines()
            if "Rolling back " in line] == [latest]
    # the same through python -m salesmart yoyo, from any folder
    again = subprocess.run([sys.executable, "-m", "salesmart", "yoyo", "apply"], cwd=tmp_path,
                           env=dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(REPO)),
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert [line.split("Applying ")[1] for line in again.stderr.splitlines() if "Applying " in line] == [latest]
