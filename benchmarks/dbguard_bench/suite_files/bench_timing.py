"""Times every test's call phase and writes the run's figures as JSON at the end.

Loaded by the suite's conftest (``pytest_plugins``), so it registers after every installed
plugin and its ``tryfirst`` wrapper is the outermost: the time includes what the plugins do
around the test (pytest-dbguard's verdicts), not pytest's start-up, collection or fixtures.
"""

import json
import os
import resource
import time
from typing import Any

import pytest

_run: dict[str, Any] = {"per_test": {}, "failed": 0, "warnings": 0, "warning_texts": []}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        # wall clock, and CPU time of this process (which leaves out the database server's)
        _run["per_test"][item.nodeid] = [time.perf_counter() - wall, time.process_time() - cpu]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _run["failed"] += 1


def pytest_warning_recorded(warning_message: Any) -> None:
    _run["warnings"] += 1
    if len(_run["warning_texts"]) < 5:
        category = warning_message.category.__name__
        _run["warning_texts"].append(f"{category}: {warning_message.message}"[:300])


def pytest_sessionfinish(exitstatus: int) -> None:
    path = os.environ.get("BENCH_RESULT")
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # one file per process: "run-3.json.gw0"
        path = f"{path}.{worker}"
    # ru_maxrss is in KiB on Linux: the peak resident set size of this pytest process
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(path, "w") as out:
        json.dump(dict(_run, exitstatus=int(exitstatus), peak_rss=peak), out)
