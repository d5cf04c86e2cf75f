"""Benchmark: a day of N orders through the real command line (`python -m
salesmart load-dir`: staging, load_f_sales, retention) against a bare
`\\copy` of the same four files into unindexed logged tables, the loader's
own part of staging alone (the files through ValidatingReader into landing),
and the course's typical loader (tests/course_loader.py: pandas read_csv +
to_sql into staging, then the INSERT ... SELECT into f_sales), alternately,
round after round; then a history of days, the last against the first.
Prints figures; asserts nothing.

    python -m tests.benchmark_load [--orders 200000] [--rounds 3] [--history-orders 50000] [--history-days 8]

CPU-seconds are client + server: the loader's (or psql's) own, and every
PostgreSQL process's, read from /proc (backends that ended are counted in
the postmaster's children times). Stages are cut where the loader logs the
end of a step ("... in 1.23 s"). Runs on its own PostgreSQL on /dev/shm.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg2

from salesmart.dev.embedded_pg import UNSAFE_FAST, EmbeddedPostgres
from salesmart.files import ValidatingReader, kind_of

REPO = Path(__file__).resolve().parents[1]
START = date(2025, 1, 5)  # the report's day; increments from the Monday after
TICKS = os.sysconf("SC_CLK_TCK")
STEP_END = re.compile(r" in \d+\.\d+ s$")
STAGES = ("staging", "load_f_sales", "retention", "rest")
FILE_COLUMNS = {  # the files' own columns, typed as in staging, for the bare copy
    "user_order_log": "id bigint, uniq_id varchar(32), date_time timestamp, city_id integer,"
                      " city_name varchar(100), customer_id integer, first_name varchar(100),"
                      " last_name varchar(100), item_id integer, item_name varchar(100), quantity bigint,"
                      " payment_amount numeric(10, 2), status varchar(10)",
    "user_activity_log": "id bigint, uniq_id varchar(32), date_time timestamp, action_id integer,"
                         " customer_id integer, quantity bigint",
    "customer_research": "date_id timestamp, category_id integer, geo_id integer, sales_qty integer,"
                         " sales_amt numeric(14, 2)",
    "price_log": "item_name varchar(100), price numeric(10, 2)",
}


@dataclass
class Cost:
    wall: float = 0.0
    cpu: float = 0.0  # client + server

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.wall + other.wall, self.cpu + other.cpu)


@dataclass
class Run:
    stages: dict[str, Cost] = field(default_factory=lambda: defaultdict(Cost))
    client_peak_rss_mib: float = 0.0
    wal_bytes: int = 0
    temp_bytes: int = 0
    peak_temp_dir_bytes: int = 0

    @property
    def total(self) -> Cost:
        return sum(self.stages.values(), Cost())


def process_stat(pid: int | str) -> list[str]:
    """/proc/PID/stat from its third field (state, parent, ...); empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return []


def process_cpu(pid: int | str, with_children: bool = False) -> float:
    """utime + stime of a process (+ cutime + cstime: its children that ended), in seconds."""
    fields = process_stat(pid)
    if not fields:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if with_children else 0)
    return ticks / TICKS


class Server:
    """The benchmark's own PostgreSQL, and what its processes cost."""

    def __init__(self, folder: Path):
        self.pg = EmbeddedPostgres(folder, server_options=UNSAFE_FAST).start()
        self.postmaster = int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])

    def children(self) -> dict[Path, str]:
        """The postmaster's child processes and their states."""
        found = {}
        for entry in Path("/proc").iterdir():
            fields = process_stat(entry.name) if entry.name.isdigit() else []
            if fields and int(fields[1]) == self.postmaster:
                found[entry] = fields[0]
        return found

    def cpu(self) -> float:
        """Every PostgreSQL process's CPU so far, ended backends included."""
        for _ in range(100):
            children = self.children()
            if "Z" not in children.values():
                break
            time.sleep(0.01)  # an ended backend shows no CPU until the postmaster reaps it
        return process_cpu(self.postmaster, with_children=True) + sum(
            process_cpu(child.name) for child in children)

    def wait_for_sessions_to_end(self, dbname: str) -> None:
        """A backend ends a moment after its client: wait, by its process title, not a new session."""
        def title(child: Path) -> bytes:
            try:
                return (child / "cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                return b""
        while any(f" {dbname} ".encode() in title(child) for child in self.children()):
            time.sleep(0.05)

    def temp_dir_bytes(self) -> int:
        total = 0
        for folder in self.pg.data_dir.glob("base/pgsql_tmp"):
            for entry in os.scandir(folder):
                try:
                    total += entry.stat().st_size
                except FileNotFoundError:
                    pass
        return total

    def query(self, dbname: str, sql: str):
        connection = psycopg2.connect(self.pg.dsn(dbname))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def clone(self, template: str, dbname: str) -> None:
        self.wait_for_sessions_to_end(template)
        self.query("postgres", f"CREATE DATABASE {dbname} TEMPLATE {template}")

    def wal_lsn(self) -> str:
        return self.query("postgres", "SELECT pg_current_wal_lsn()")[0][0]

    def wal_since(self, lsn: str) -> int:
        return int(self.query("postgres", f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')")[0][0])

    def temp_bytes(self, dbname: str) -> int:
        return int(self.query("postgres", f"SELECT temp_bytes FROM pg_stat_database WHERE datname = '{dbname}'")[0][0])


def measured(server: Server, dbname: str, command: list[str], env: dict[str, str] | None = None) -> Run:
    """Runs `command` against database `dbname`; its costs by stage, cut at the loader's step log lines."""
    run = Run()
    lsn, temp_before = server.wal_lsn(), server.temp_bytes(dbname)
    peak_temp = [0]
    done = threading.Event()

    def watch_temp_dir():
        while not done.wait(0.2):
            peak_temp[0] = max(peak_temp[0], server.temp_dir_bytes())

    watcher = threading.Thread(target=watch_temp_dir, daemon=True)
    watcher.start()
    started, server_before = time.perf_counter(), server.cpu()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    mark = Cost(started, 0.0)  # wall clock, and client + server CPU since the start, at the last cut
    log = []
    for line in process.stderr:
        log.append(line)
        if not STEP_END.search(line.rstrip()):
            continue
        stage = "retention" if "load_f_customer_retention" in line else (
            "load_f_sales" if "load_f_sales" in line else "staging")
        now = Cost(time.perf_counter(), process_cpu(process.pid) + server.cpu() - server_before)
        run.stages[stage] += Cost(now.wall - mark.wall, now.cpu - mark.cpu)
        mark = now
    _, status, usage = os.wait4(process.pid, 0)
    server.wait_for_sessions_to_end(dbname)
    ended = Cost(time.perf_counter(), usage.ru_utime + usage.ru_stime + server.cpu() - server_before)
    done.set()
    watcher.join()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{''.join(log[-20:])}")
    # After the last step: commit, exit (and all of a command that logs no steps).
    run.stages["rest"] += Cost(ended.wall - mark.wall, ended.cpu - mark.cpu)
    run.client_peak_rss_mib = usage.ru_maxrss / 1024
    run.wal_bytes = server.wal_since(lsn)
    time.sleep(0.6)  # ended backends' statistics reach pg_stat_database
    run.temp_bytes = server.temp_bytes(dbname) - temp_before
    run.peak_temp_dir_bytes = peak_temp[0]
    return run


def landing_copy(server: Server, dbname: str, files: list[Path]) -> Run:
    """The loader's part of staging alone: the four files through ValidatingReader into landing, rolled back."""
    run = Run()
    started, server_before = time.perf_counter(), server.cpu()
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    connection = psycopg2.connect(server.pg.dsn(dbname))
    try:
        with connection.cursor() as cursor:
            for path in files:
                with ValidatingReader(path, kind_of(path), path.name) as reader:
                    cursor.copy_expert(reader.copy_sql, reader)
    finally:
        connection.rollback()
        connection.close()
    server.wait_for_sessions_to_end(dbname)
    client = resource.getrusage(resource.RUSAGE_SELF)
    run.stages["validate+COPY"] = Cost(
        time.perf_counter() - started, server.cpu() - server_before + client.ru_utime + client.ru_stime
        - client_before.ru_utime - client_before.ru_stime)
    return run


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "salesmart", *args]


def generate(out: Path, days: int, orders: int) -> None:
    subprocess.run(cli("generate", "--out", str(out), "--days", str(days), "--orders-per-day", str(orders),
                       "--seed", "1", "--report-days", "1", "--start", START.isoformat()),
                   cwd=REPO, check=True, stderr=subprocess.DEVNULL)


def only(folder: Path, root: Path) -> Path:
    """A load-dir folder holding just `folder` (a report/ or an increments/DAY), by a symlink."""
    target = root / ("report" if folder.name == "report" else f"increments/{folder.name}")
    target.parent.mkdir(parents=True)
    target.symlink_to(folder)
    return root


def load_env(server: Server, dbname: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": server.pg.dsn(dbname), "PYTHONPATH": str(REPO)}


def bare_copy(server: Server, files: list[Path], script_file: Path) -> Run:
    """psql \\copy of the files into fresh unindexed logged tables of their own columns."""
    script = []
    for path in files:
        kind = path.name.removesuffix(".csv").removesuffix("_inc")
        script += [f"DROP TABLE IF EXISTS bare_{kind};", f"CREATE TABLE bare_{kind} ({FILE_COLUMNS[kind]});"]
    for path in files:
        kind = path.name.removesuffix(".csv").removesuffix("_inc")
        header = "false" if kind == "price_log" else "true"
        script.append(f"\\copy bare_{kind} FROM '{path}' WITH (FORMAT csv, HEADER {header})")
    script_file.write_text("\n".join(script) + "\n")
    run = measured(server, "bare", [str(server.pg.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                    "-d", server.pg.dsn("bare"), "-f", str(script_file)])
    run.stages["copy"] = run.stages.pop("rest")
    return run


def stats(values: list[float]) -> str:
    return f"{min(values):8.2f} {statistics.median(values):8.2f}"


def report_rounds(bare: list[Run], landing: list[Run], project: list[Run], course: list[Run]) -> None:
    print(f"\n{'':30} {'wall s':>17} {'CPU s (client+server)':>24}")
    print(f"{'stage':30} {'min':>8} {'median':>8} {'min':>11} {'median':>8}")
    for label, runs, stages in (("bare \\copy", bare, ("copy",)), ("loader", landing, ("validate+COPY",)),
                                ("project", project, STAGES), ("course's loader", course, STAGES)):
        for stage in stages:
            walls = [run.stages[stage].wall for run in runs]
            cpus = [run.stages[stage].cpu for run in runs]
            print(f"{label + ': ' + stage:30} {stats(walls)}    {stats(cpus)}")
        if len(stages) > 1:
            print(f"{label + ': total':30} {stats([r.total.wall for r in runs])}"
                  f"    {stats([r.total.cpu for r in runs])}")
    for label, runs in (("loader validate+COPY", landing), ("project", project)):
        for what in ("wall", "cpu"):
            ratios = [getattr(p.total, what) / getattr(b.total, what) for b, p in zip(bare, runs, strict=True)]
            print(f"{label} / bare copy, {what:4}: min {min(ratios):.2f}x  median {statistics.median(ratios):.2f}x"
                  f"  (per round: {', '.join(f'{ratio:.2f}' for ratio in ratios)})")
    for what in ("wall", "cpu"):
        ratios = [getattr(c.total, what) / getattr(p.total, what) for p, c in zip(project, course, strict=True)]
        print(f"speed-up over the course's loader, {what:4}: min {min(ratios):.2f}x"
              f"  median {statistics.median(ratios):.2f}x  (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"loader peak RSS: {max(run.client_peak_rss_mib for run in project):.0f} MiB;"
          f" psql peak RSS: {max(run.client_peak_rss_mib for run in bare):.0f} MiB")
    for label, runs in (("bare \\copy", bare), ("project", project)):
        print(f"{label}: WAL {statistics.median(r.wal_bytes for r in runs) / 2**20:,.0f} MiB,"
              f" temp files written {statistics.median(r.temp_bytes for r in runs) / 2**20:,.0f} MiB,"
              f" peak in pgsql_tmp {max(r.peak_temp_dir_bytes for r in runs) / 2**20:,.0f} MiB (median per run)")


def day_of_orders(server: Server, work: Path, orders: int, rounds: int) -> None:
    data = work / f"day-{orders}"
    generate(data, 1, orders)
    day_folder = next((data / "increments").iterdir())
    files = sorted(day_folder.glob("*.csv"))
    order_file = day_folder / "user_order_log_inc.csv"
    with order_file.open("rb") as handle:
        lines = sum(1 for _ in handle) - 1
    print(f"\none day of {orders:,} orders: {lines:,} order lines,"
          f" {sum(path.stat().st_size for path in files) / 2**20:,.0f} MiB in the four increment files")
    # Every round loads the day into the same state: migrations and the report, cloned from a template.
    server.query("postgres", "CREATE DATABASE bench_template")
    for command in ("migrate",), ("load-dir", str(only(data / "report", work / "report-only"))):
        subprocess.run(cli(*command), cwd=REPO, check=True, env=load_env(server, "bench_template"),
                       stderr=subprocess.DEVNULL)
    server.query("postgres", "CREATE DATABASE bare")
    day_only = only(day_folder, work / "day-only")
    bare, landing, project, course = [], [], [], []
    for round_no in range(1, rounds + 1):
        bare.append(bare_copy(server, files, work / "bare.sql"))
        server.clone("bench_template", "landing_only")  # a rolled-back COPY leaves dead rows behind
        landing.append(landing_copy(server, "landing_only", files))
        server.query("postgres", "DROP DATABASE landing_only")
        dbname = f"bench_round_{round_no}"
        server.clone("bench_template", dbname)
        project.append(measured(server, dbname, cli("load-dir", str(day_only)), load_env(server, dbname)))
        server.query("postgres", f"DROP DATABASE {dbname}")
        server.clone("bench_template", dbname)
        course.append(measured(server, dbname, [sys.executable, "-m", "tests.course_loader", server.pg.dsn(dbname),
                                                str(day_folder), day_folder.name], load_env(server, dbname)))
        server.query("postgres", f"DROP DATABASE {dbname}")
        print(f"round {round_no}: bare {bare[-1].total.wall:.2f} s wall / {bare[-1].total.cpu:.2f} s CPU;"
              f" loader validate+COPY {landing[-1].total.wall:.2f} s / {landing[-1].total.cpu:.2f} s;"
              f" project {project[-1].total.wall:.2f} s / {project[-1].total.cpu:.2f} s;"
              f" course's loader {course[-1].total.wall:.2f} s / {course[-1].total.cpu:.2f} s", flush=True)
    server.query("postgres", "DROP DATABASE bare")
    server.query("postgres", "DROP DATABASE bench_template")
    report_rounds(bare, landing, project, course)


def history(server: Server, work: Path, orders: int, days: int) -> None:
    data = work / f"history-{orders}"
    generate(data, days, orders)
    server.query("postgres", "CREATE DATABASE history")
    env = load_env(server, "history")
    for command in ("migrate",), ("load-dir", str(only(data / "report", work / "history-report"))):
        subprocess.run(cli(*command), cwd=REPO, check=True, env=env, stderr=subprocess.DEVNULL)
    print(f"\nhistory: {days} days of {orders:,} orders, one load-dir per day after the report")
    print(f"{'day':12} " + " ".join(f"{stage + ' wall/CPU':>22}" for stage in STAGES)
          + f" {'WAL MiB':>8} {'temp MiB':>8}")
    runs = []
    for day_folder in sorted((data / "increments").iterdir()):
        run = measured(server, "history", cli("load-dir", str(only(day_folder, work / f"h-{day_folder.name}"))),
                       env)
        runs.append(run)
        print(f"{day_folder.name:12} " + " ".join(
            f"{run.stages[stage].wall:10.2f}/{run.stages[stage].cpu:<11.2f}" for stage in STAGES)
            + f" {run.wal_bytes / 2**20:8.0f} {run.temp_bytes / 2**20:8.0f}", flush=True)
    first, last = runs[0], runs[-1]
    def ratio(later: float, earlier: float) -> str:
        return f"{later / earlier:.2f}x" if earlier >= 0.05 else "n/a"  # below what /proc's ticks resolve

    print(f"day {days} / day 1: " + ", ".join(
        f"{stage} {ratio(last.stages[stage].wall, first.stages[stage].wall)} wall"
        f" {ratio(last.stages[stage].cpu, first.stages[stage].cpu)} CPU" for stage in STAGES))
    server.query("postgres", "DROP DATABASE history")


@contextmanager
def benchmark_server() -> Iterator[tuple[Server, Path]]:
    """The benchmark's own PostgreSQL in a scratch folder on /dev/shm (also the work folder), removed after;
    prints the machine and the server."""
    work = Path(tempfile.mkdtemp(prefix="salesmart-bench-", dir="/dev/shm"))
    work.chmod(0o755)
    server = Server(work / "pg")
    try:
        version = server.query("postgres", "SHOW server_version")[0][0]
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "?")
        print(f"machine: {os.cpu_count()} CPUs ({model}), load average {os.getloadavg()[0]:.2f};"
              f" PostgreSQL {version} on /dev/shm with {UNSAFE_FAST}")
        yield server, work
    finally:
        server.pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000, help="orders of the measured day (0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history-orders", type=int, default=50_000, help="orders a day of the history (0: none)")
    parser.add_argument("--history-days", type=int, default=8, help="days of the history (0: none)")
    args = parser.parse_args()
    with benchmark_server() as (server, work):
        if args.orders:
            day_of_orders(server, work, args.orders, args.rounds)
        if args.history_orders and args.history_days:
            history(server, work, args.history_orders, args.history_days)


if __name__ == "__main__":
    main()
