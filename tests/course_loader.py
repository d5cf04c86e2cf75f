"""The course's typical loader, for the benchmark to compare with: pandas reads
each increment file whole (read_csv), drops the file's id column and the
copies, and appends the rows to staging (to_sql); then one INSERT ... SELECT
writes the day into mart.f_sales, refunds negated, the date from the calendar.
No checks, no delivery rules, no retention: what the course's DAG did.

    python -m tests.course_loader DATABASE_URL FOLDER DAY

Logs each step's end ("... in 1.23 s") as the salesmart loader does, so the
benchmark cuts its stages the same way."""
import logging
import sys
import time
from pathlib import Path

import pandas
import sqlalchemy

logger = logging.getLogger("course_loader")

FILES = ("user_order_log", "user_activity_log", "customer_research")

F_SALES = """
INSERT INTO mart.f_sales (date_id, item_id, customer_id, city_id, quantity, payment_amount, status)
SELECT dc.date_id, uol.item_id, uol.customer_id, uol.city_id,
       CASE WHEN uol.status = 'refunded' THEN -uol.quantity ELSE uol.quantity END,
       CASE WHEN uol.status = 'refunded' THEN -uol.payment_amount ELSE uol.payment_amount END,
       uol.status
FROM staging.user_order_log AS uol
LEFT JOIN mart.d_calendar AS dc ON uol.date_time::date = dc.date_actual
WHERE uol.date_time::date = :day
"""


def load(database_url: str, folder: Path, day: str) -> None:
    engine = sqlalchemy.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as connection:
        started = time.monotonic()
        for name in FILES:
            frame = pandas.read_csv(folder / f"{name}_inc.csv")
            frame = frame.drop(columns=["id"], errors="ignore").drop_duplicates()
            frame.to_sql(name, connection, schema="staging", if_exists="append", index=False)
        logger.info("read_csv + to_sql of %s in %.2f s", ", ".join(FILES), time.monotonic() - started)
        started = time.monotonic()
        connection.execute(sqlalchemy.text(F_SALES), {"day": day})
        logger.info("INSERT ... SELECT into mart.f_sales (the load_f_sales step) in %.2f s",
                    time.monotonic() - started)
    engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
