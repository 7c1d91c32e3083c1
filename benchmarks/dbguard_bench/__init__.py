"""What pytest-dbguard costs, goal by goal (issue 12): ``python -m benchmarks.dbguard_bench``.

- ``suites.py``: the generated test suites (and ``suite_files/``, the code they share);
- ``run.py``: pytest in subprocesses, interleaved rounds;
- ``stats.py``: medians, ratios of the same rounds, bootstrap intervals;
- ``goals.py``: one function per goal: what is measured, and the reading;
- ``postgres.py``, ``venv.py``: the PostgreSQL server, the other plugins' venv;
- ``report.py``: the printed sections and the results file.
"""
