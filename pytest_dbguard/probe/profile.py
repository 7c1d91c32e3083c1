"""Planner settings for the plugin's own EXPLAIN, set with ``set_config(..., true)`` inside its
savepoint (so they vanish with it).

Two profiles:

- ``INDEXED`` (the default for verdicts and plan snapshots): the plan a table of production size
  would get, on a test table of a few rows. Sequential scans are priced out, as PostgreSQL's own
  regression suite does, so that each table access shows the index that serves it; the other
  choices that follow the statistics of a small table (hash or merge joins, memoize,
  materialize, index-only scans, hashed aggregates, incremental sorts) are switched off so that
  the plan does not depend on the database's history (dead tuples, autovacuum, an earlier test's
  rows). The plan is generic (parameters are ``$n``, never values).
- ``AS_IS``: the plan PostgreSQL makes for the statement with its parameter values, for users
  whose test database holds production-like volumes.

Both pin the cost constants and switch off what depends on the machine (JIT, parallel workers).
"""

from __future__ import annotations

MACHINE_INDEPENDENT: dict[str, str] = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "seq_page_cost": "1",
    "random_page_cost": "4",
    "cpu_tuple_cost": "0.01",
    "cpu_index_tuple_cost": "0.005",
    "cpu_operator_cost": "0.0025",
    "effective_cache_size": "4GB",
    "work_mem": "4MB",
    "geqo": "off",
    "enable_bitmapscan": "on",
    "enable_indexscan": "on",
    "enable_nestloop": "on",
    "enable_sort": "on",
    "enable_tidscan": "on",
    "enable_partition_pruning": "on",
}

INDEXED: dict[str, str] = {
    **MACHINE_INDEPENDENT,
    "enable_seqscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_memoize": "off",  # PostgreSQL 14 and later
    "enable_material": "off",
    "enable_indexonlyscan": "off",
    "enable_incremental_sort": "off",
    "enable_hashagg": "off",
    "plan_cache_mode": "force_generic_plan",
}

AS_IS: dict[str, str] = {
    **MACHINE_INDEPENDENT,
    "enable_seqscan": "on",
    "enable_hashjoin": "on",
    "enable_mergejoin": "on",
    "enable_memoize": "on",
    "enable_material": "on",
    "enable_indexonlyscan": "on",
    "enable_incremental_sort": "on",
    "enable_hashagg": "on",
    "plan_cache_mode": "auto",
}

#: Settings that exist only from some PostgreSQL major version on (name -> first major).
SINCE: dict[str, int] = {"enable_memoize": 14, "enable_incremental_sort": 13}

#: EXPLAIN options of every plan the plugin reads.
EXPLAIN_OPTIONS = "FORMAT JSON, VERBOSE, COSTS"


def settings_for(profile: dict[str, str], server_major: int) -> dict[str, str]:
    """The profile's settings that this server knows."""
    return {
        name: value for name, value in profile.items() if SINCE.get(name, 0) <= server_major
    }
