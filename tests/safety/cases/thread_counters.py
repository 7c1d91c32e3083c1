"""Issue 10, item 21: per-test counters updated from several threads must not lose counts:
@num_queries(n) holds exactly with the plugin (without it the marker means nothing)."""

import sys
import threading

import pytest
from sqlalchemy import text

SAFETY = {
    "drivers": ["sqlite", "psycopg"],
    "seed": {
        "sqlite": "CREATE TABLE t (id integer PRIMARY KEY);",
        "postgresql": "CREATE TABLE t (id integer PRIMARY KEY);",
    },
}
THREADS = 4
RUNS = 1500


@pytest.mark.allow_nplusone
@pytest.mark.num_queries(THREADS * RUNS)
def test_threads_counted_exactly(db):
    handle = db.engine(pool_size=THREADS)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show

    def work(offset):
        with handle.engine.connect() as conn:
            for n in range(RUNS):
                conn.execute(text("SELECT :n"), {"n": offset * RUNS + n})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
