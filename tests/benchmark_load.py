"""Benchmark: how fast a day of orders goes through validation, COPY + merge
and the marts. Prints figures; asserts nothing.

    .venv/bin/python -m tests.benchmark_load [ORDERS_PER_DAY]
"""
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from salesmart.embedded_pg import UNSAFE_FAST, EmbeddedPostgres
from salesmart.files import ValidatingReader, kind_of
from salesmart.generate import generate
from salesmart.migrate import apply_migrations
from salesmart.pipeline import rebuild_marts
from salesmart.warehouse import SourceFile, load_staging

DAY = date(2025, 1, 6)


def timed(label: str, rows: int, action) -> None:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"{label:<38} {seconds:7.2f} s  {rows / seconds:12,.0f} lines/s")


def main(orders_per_day: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="salesmart-bench-", dir="/dev/shm"))
    work.chmod(0o755)
    server = EmbeddedPostgres(work / "pg", server_options=UNSAFE_FAST).start()
    try:
        data = work / "data"
        started = time.perf_counter()
        generate(data, days=1, orders_per_day=orders_per_day, seed=7, start=DAY - timedelta(days=1), report_days=1)
        print(f"generate {orders_per_day:,} orders{'':<17} {time.perf_counter() - started:7.2f} s")
        folder = data / "increments" / DAY.isoformat()
        order_file = folder / "user_order_log_inc.csv"
        lines = sum(1 for _ in order_file.open("rb")) - 1

        def validate_only():
            reader = ValidatingReader(order_file, kind_of(order_file), order_file.name)
            while reader.read(1 << 20):
                pass

        timed("validate user_order_log (Python)", lines, validate_only)
        dsn = server.dsn()
        apply_migrations(dsn)
        files = [SourceFile(path, str(path)) for path in sorted(folder.glob("*.csv"))]
        timed("load staging (validate+COPY+merge)", lines,
              lambda: load_staging(dsn, files, load_kind="increment", date_from=DAY, date_to=DAY))
        timed("reload the same day", lines,
              lambda: load_staging(dsn, files, load_kind="increment", date_from=DAY, date_to=DAY))
        timed("marts: load_f_sales + retention", orders_per_day, lambda: rebuild_marts(dsn, [DAY]))
        timed("marts again (no change)", orders_per_day, lambda: rebuild_marts(dsn, [DAY]))
        with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM mart.f_sales")
            print(f"f_sales rows: {cursor.fetchone()[0]:,} from {lines:,} order lines")
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
