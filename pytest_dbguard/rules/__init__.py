"""rules: pure functions over EXPLAIN JSON and captured statements (whole-table reads and
their candidate indexes, plan lints, schema checks, N+1 patterns, budgets). No database work."""
