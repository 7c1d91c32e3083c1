"""The test suites the benchmark runs, generated into a temporary directory.

Every suite is a directory of its own (its own ``pytest.ini``, so no other configuration
reaches it) holding the files of ``suite_files/``: the application under test
(``bench_app.py``: one copy of a small shop per test module, with tables of its own), the
fixtures (``conftest.py``), the call-phase timer (``bench_timing.py``) and the hand-written
counter (``bench_counter.py``). What differs between suites is ``bench_settings.py`` and the
generated test modules.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

FILES = Path(__file__).parent / "suite_files"
# suite_files/ name -> name in the suite (templates are named so that nothing collects them)
COMMON_FILES = {
    "bench_app.py": "bench_app.py",
    "bench_counter.py": "bench_counter.py",
    "bench_timing.py": "bench_timing.py",
    "suite_conftest.py": "conftest.py",
}

# The statements each function of ``bench_app.Shop`` sends, and how many times a test may call
# it. The limits keep every test clean for every plugin compared: a relationship lazy-loaded for
# two parents is an N+1 (so ``lazy_purchases`` runs once), and pytest-queryguard fails one
# SELECT shape run 5 times (the customer-by-email shape: two calls of each function using it).
OPERATIONS: dict[str, tuple[int, int]] = {  # name: (statements, most calls per test)
    "find_customer": (1, 2),
    "customer_by_email": (1, 2),
    "purchases_with_lines": (2, 2),
    "purchase_with_customer": (1, 2),
    "lazy_purchases": (2, 1),
    "place_order": (2, 2),
    "rename_customer": (2, 2),
    "count_purchases_of": (1, 2),
    "lines_of_product": (1, 2),
}
ACCEPTED_FINDING = "events_by_action"  # 1 statement, in every test of the ORM suites
SMALLEST, LARGEST = 5, 25  # statements of an ORM test


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    tests: int
    statements: int  # of all tests together, as written (the ORM's may differ by a few)


def _new_suite(parent: Path, name: str, settings: dict[str, object]) -> Path:
    """A directory with the common files, ``bench_settings.py`` and ``pytest.ini``."""
    root = parent / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for source, target in COMMON_FILES.items():
        shutil.copyfile(FILES / source, root / target)
    values = {"MODULES": 1, "CUSTOMERS": 100, "FIXTURES": "rollback", "ROWS": 0,
              "PARAMETER_BYTES": 0, **settings}  # fmt: skip
    (root / "bench_settings.py").write_text(
        '"""Written by the benchmark: what this suite is."""\n\n'
        + "".join(f"{key} = {value!r}\n" for key, value in values.items())
    )
    modules = int(str(values["MODULES"]))
    accepted = " ".join(f"m{number:03d}_event" for number in range(modules))
    (root / "pytest.ini").write_text(
        "[pytest]\n"
        "markers =\n"
        "    max_queries(n): a query budget (pytest-dbguard, -querycount, -queryguard)\n"
        "    queryspy(max_queries=None): queryspy's per-test budget\n"
        f"dbguard_allow_seqscan = {accepted}\n"
    )
    return root


# -- small-orm: the headline suite ------------------------------------------------------------


def orm_suite(
    parent: Path, name: str, modules: int, tests_per_module: int, fixtures: str = "rollback"
) -> Suite:
    """Small ORM tests: each calls the shop's functions for 5 to 25 statements, one of them the
    accepted finding, and carries a query budget every compared plugin enforces.

    ``fixtures``: ``rollback`` (each test in a transaction rolled back at its end) or
    ``commit`` (the session commits, then the test's rows are deleted)."""
    root = _new_suite(parent, name, {"MODULES": modules, "FIXTURES": fixtures})
    rng = random.Random(f"{modules}-{tests_per_module}")  # the same suite every time
    statements = 0
    for module in range(modules):
        tests = []
        for index in range(tests_per_module):
            calls = _orm_calls(rng, rng.randint(SMALLEST, LARGEST))
            statements += sum(OPERATIONS[call][0] if call in OPERATIONS else 1 for call in calls)
            tests.append(_orm_test(module, index, calls))
        header = (
            f'"""Tests of shop {module} (generated)."""\n\n'
            "import pytest\nfrom bench_app import SHOPS\n\n"
            f"shop = SHOPS[{module}]\n"
        )
        (root / f"test_shop_{module:03d}.py").write_text(header + "".join(tests))
    return Suite(name, root, modules * tests_per_module, statements)


def _orm_calls(rng: random.Random, target: int) -> list[str]:
    """The shop functions one test calls, in order: about ``target`` statements in all."""
    slots = [name for name, (_, most) in OPERATIONS.items() for _ in range(most)]
    rng.shuffle(slots)
    calls, statements = [ACCEPTED_FINDING], 1
    for name in slots:
        if statements >= target:
            break
        calls.append(name)
        statements += OPERATIONS[name][0]
    rng.shuffle(calls)
    return calls


def _orm_test(module: int, index: int, calls: list[str]) -> str:
    planned = sum(OPERATIONS[call][0] if call in OPERATIONS else 1 for call in calls)
    budget = planned + 3  # room for what the ORM does differently on one database
    first = (module * 1000 + index) * 50  # every call of a test a different n: other rows
    body = "".join(f"    shop.{call}(session, {first + slot})\n" for slot, call in enumerate(calls))
    return (
        f"\n\n@pytest.mark.max_queries({budget})\n"
        f"@pytest.mark.queryspy(max_queries={budget})\n"
        f"def test_shop_{module:03d}_{index:03d}(session):\n{body}"
    )


# -- capture: Core statements, the cheapest there are (SQLite in memory) ---------------------

CORE_LINES = (  # one statement each; {id} differs on every line of a test
    'conn.execute(shop.get_customer, {{"id": {id}}}).one()',
    'conn.execute(shop.customer_purchases, {{"id": {id}}}).all()',
    'conn.execute(shop.count_purchases, {{"id": {id}}}).scalar_one()',
    'conn.execute(shop.add_purchase, {{"customer_id": {id}, "total": 1}})',
    'conn.execute(shop.rename, {{"cid": {id}, "new_name": "r{id}"}})',
)
FUNCTION_LINES = 20  # statements per generated function, as in application code


def capture_suite(parent: Path, name: str, modules: int, tests: int, statements: int) -> Suite:
    """``tests`` tests of ``statements`` Core statements each, every statement on its own
    line with parameters of its own (as hand-written tests are: no N+1, no duplicate), in
    functions of at most 20 lines that the test calls in turn."""
    root = _new_suite(parent, name, {"MODULES": modules, "CUSTOMERS": max(100, statements)})
    per_module = -(-tests // modules)
    for module in range(modules):
        numbers = range(module * per_module, min((module + 1) * per_module, tests))
        source = f'"""Core statements of shop {module} (generated)."""\n\n'
        source += f"from bench_app import SHOPS\n\nshop = SHOPS[{module}]\n"
        source += "".join(_core_test(number, statements) for number in numbers)
        (root / f"test_core_{module:03d}.py").write_text(source)
    return Suite(name, root, tests, tests * statements)


def _core_test(number: int, statements: int) -> str:
    functions, calls = [], []
    for first in range(0, statements, FUNCTION_LINES):
        function = f"_test_{number:05d}_part_{first // FUNCTION_LINES:02d}"
        lines = [
            "    " + CORE_LINES[k % len(CORE_LINES)].format(id=k + 1)
            for k in range(first, min(first + FUNCTION_LINES, statements))
        ]
        functions.append(f"\n\ndef {function}(conn):\n" + "\n".join(lines) + "\n")
        calls.append(f"    {function}(conn)\n")
    return "".join(functions) + f"\n\ndef test_core_{number:05d}(conn):\n" + "".join(calls)


# -- memory and the plugins' activity probe ---------------------------------------------------


def memory_suite(parent: Path, name: str, rows: int, parameter_bytes: int) -> Suite:
    """One test inserting ``rows`` rows with a parameter of ``parameter_bytes`` each."""
    root = _new_suite(parent, name, {"ROWS": rows, "PARAMETER_BYTES": parameter_bytes})
    shutil.copyfile(FILES / "memory_tests.py", root / "test_memory.py")
    return Suite(name, root, 1, rows)


def probe_suite(parent: Path) -> Suite:
    """One test over its budget: it fails wherever a plugin is active."""
    root = _new_suite(parent, "probe", {})
    shutil.copyfile(FILES / "probe_tests.py", root / "test_probe.py")
    return Suite("probe", root, 1, 3)
