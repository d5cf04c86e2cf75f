"""Benchmark: a repeat of an already loaded big day, plain and right after a
loader was killed (kill -9) in the middle of a load of that day and re-run.
A killed load leaves its rolled-back rows in landing and its server session
ending; the repeat after it must stay within a few times a plain repeat.
Prints figures; asserts nothing.

    python -m tests.benchmark_repeat_after_kill [--orders 100000] [--repeats 3]

Sequence, on its own PostgreSQL on /dev/shm: migrate, load the report, load
the day, repeat it (plain); then for each kill point (during the COPY of the
order file; after its staging merge): start a load of the day, kill -9 it
there, re-run it, repeat it.
"""
import argparse
import os
import signal
import statistics
import subprocess
import time

from tests.benchmark_load import REPO, STAGES, START, benchmark_server, cli, generate, load_env, measured, only

KILL_POINTS = {
    # seconds after the load's start, or the first step line it logs (its order file merged into staging)
    "during the COPY of the order file": 1.0,
    "after the order file's staging merge": "user_order_log_inc.csv",
}


def killed_load(command: list[str], env: dict[str, str], point: float | str) -> None:
    """Starts `command` and kills it with SIGKILL at `point`."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    if isinstance(point, float):
        time.sleep(point)
    else:
        next(line for line in process.stderr if point in line)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def show(label: str, run) -> float:
    print(f"{label:44} {run.total.wall:7.2f} s   " + "  ".join(
        f"{stage} {run.stages[stage].wall:.2f}" for stage in STAGES), flush=True)
    return run.total.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000, help="orders of the day")
    parser.add_argument("--repeats", type=int, default=3, help="plain repeats of the day")
    args = parser.parse_args()
    with benchmark_server() as (server, work):
        data = work / "data"
        generate(data, 1, args.orders)
        day_folder = next((data / "increments").iterdir())
        day = only(day_folder, work / "day-only")
        server.query("postgres", "CREATE DATABASE repeat")
        env = load_env(server, "repeat")
        for command in ("migrate",), ("load-dir", str(only(data / "report", work / "report-only"))):
            subprocess.run(cli(*command), cwd=REPO, check=True, env=env, stderr=subprocess.DEVNULL)
        print(f"report {START} and the day {day_folder.name}, {args.orders:,} orders each\n")
        print(f"{'':44} {'wall':>9}   stages (wall s)")
        show("first load of the day", measured(server, "repeat", cli("load-dir", str(day)), env))
        plain = [show(f"plain repeat {n}", measured(server, "repeat", cli("load-dir", str(day)), env))
                 for n in range(1, args.repeats + 1)]
        after_kill = []
        for label, point in KILL_POINTS.items():
            killed_load(cli("load-dir", str(day)), env, point)
            landing = server.query("repeat", "SELECT sum(pg_relation_size(c.oid)) FROM pg_class AS c"
                                             " WHERE c.relnamespace = 'landing'::regnamespace")[0][0]
            print(f"kill -9 {label}: landing then holds {int(landing) / 2**20:.1f} MiB")
            show("  re-run after the kill", measured(server, "repeat", cli("load-dir", str(day)), env))
            after_kill.append(show("  repeat after the re-run", measured(server, "repeat", cli("load-dir", str(day)),
                                                                          env)))
        median = statistics.median(plain)
        print(f"\nrepeat after a kill / plain repeat (median {median:.2f} s): "
              + ", ".join(f"{wall / median:.2f}x" for wall in after_kill))


if __name__ == "__main__":
    main()
