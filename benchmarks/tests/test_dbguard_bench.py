"""The benchmark's own checks: its statistics, and that its suites are what they claim
(``python -m pytest benchmarks/tests``; the suites run on SQLite in memory)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.dbguard_bench import stats, suites
from benchmarks.dbguard_bench.run import Job, Mode, Run, Runner


def fake_runs(process_walls: list[float], call: float = 0.1) -> list[Run]:
    return [
        Run(
            "suite",
            "sqlite",
            "mode",
            i,
            wall,
            {"t1": [call, call], "t2": [call * 2, call]},
            0,
            0,
            [],
            0,
        )
        for i, wall in enumerate(process_walls)
    ]


def test_ratio_of_the_same_rounds_and_its_interval() -> None:
    base = stats.series(fake_runs([1.0, 1.1, 0.9, 1.0, 1.2]), stats.whole_run)
    slower = stats.series(fake_runs([2.0, 2.2, 1.8, 2.0, 2.4]), stats.whole_run)
    estimate = stats.ratio(slower, base)
    # each round's runs are twice as slow: every draw of the rounds gives 2x
    assert estimate.value == pytest.approx(2.0)
    assert estimate.low == pytest.approx(2.0)
    assert estimate.high == pytest.approx(2.0)


def test_readings_against_a_limit() -> None:
    assert stats.reading(stats.Estimate(1.05, 1.01, 1.08), 1.1) == "met"
    assert stats.reading(stats.Estimate(1.3, 1.2, 1.4), 1.1) == "missed"
    assert stats.reading(stats.Estimate(1.1, 1.0, 1.2), 1.1).startswith("inconclusive")
    nothing = stats.Estimate(math.inf, math.inf, math.inf)
    assert stats.reading(nothing, 1.5).startswith("inconclusive")


def test_added_ratio_and_per_test_sums() -> None:
    none = stats.series(fake_runs([1.0] * 3, call=0.10), stats.call_phases)
    counter = stats.series(fake_runs([1.0] * 3, call=0.11), stats.call_phases)
    dbguard = stats.series(fake_runs([1.0] * 3, call=0.12), stats.call_phases)
    assert none.value == pytest.approx(0.30)  # t1 + t2 (twice t1)
    assert stats.added_ratio(dbguard, counter, none).value == pytest.approx(2.0)


def test_orm_suite_tests_stay_within_5_to_25_statements(tmp_path: Path) -> None:
    suite = suites.orm_suite(tmp_path, "orm", modules=3, tests_per_module=20)
    sources = [p.read_text() for p in sorted(suite.path.glob("test_shop_*.py"))]
    assert len(sources) == 3
    assert suite.tests == 60
    assert all("events_by_action" in test for s in sources for test in s.split("def test_")[1:])
    assert "m002_event" in (suite.path / "pytest.ini").read_text()
    assert suites.SMALLEST * 60 <= suite.statements <= suites.LARGEST * 60


@pytest.mark.parametrize("fixtures", ["rollback", "commit"])
def test_orm_suite_passes_with_and_without_the_plugin(tmp_path: Path, fixtures: str) -> None:
    suite = suites.orm_suite(tmp_path, "orm", modules=2, tests_per_module=5, fixtures=fixtures)
    runner = Runner(tmp_path / "work")
    for mode in (Mode("none", ("-p", "no:dbguard")), Mode("dbguard")):
        run = runner.run(Job(suite, mode, "sqlite", "sqlite://"))  # raises if a test fails
        assert run.tests == 10
        assert run.warnings == 0, run.warning_texts


def test_capture_suite_and_counter(tmp_path: Path) -> None:
    suite = suites.capture_suite(tmp_path, "capture", modules=2, tests=4, statements=25)
    assert suite.statements == 100
    counter = Mode("counter", ("-p", "no:dbguard", "-p", "bench_counter"))
    run = Runner(tmp_path / "work").run(Job(suite, counter, "sqlite", "sqlite://"))
    assert run.tests == 4
    assert all(wall > 0 for wall, _ in run.per_test.values())


def test_probe_fails_under_the_plugin(tmp_path: Path) -> None:
    job = Job(suites.probe_suite(tmp_path), Mode("dbguard"), "sqlite", "sqlite://")
    assert Runner(tmp_path / "work").run(job, check=False).failed == 1
