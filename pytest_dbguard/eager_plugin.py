"""pytest wiring of the unused-eager-load check (``capture/eager.py``, ``rules/eager.py``):
the watcher runs around each test's call, and the main plugin judges what it saw with the
test's other findings (``plugin._judge``)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .capture.eager import EagerLoad, EagerLoadWatcher
from .findings import Finding, Mode
from .outcome import state
from .rules.eager import find_unused_eager_loads

WATCHER = pytest.StashKey[EagerLoadWatcher]()
EAGER_LOADS = pytest.StashKey[list[EagerLoad]]()


@pytest.hookimpl(trylast=True)  # after the main plugin's: its settings and capture exist
def pytest_configure(config: pytest.Config) -> None:
    settings = config.stash.get(state.SETTINGS, None)
    if settings is None or settings.disable or settings.unused_eager_loads is Mode.OFF:
        return  # off: no listener at all, no cost
    watcher = EagerLoadWatcher(config.stash[state.CAPTURE].finder)
    watcher.install()
    config.add_cleanup(watcher.uninstall)
    config.stash[WATCHER] = watcher


# trylast: the innermost wrapper, so the eager loads are settled before the main plugin's
# wrapper judges the test
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    watcher = item.config.stash.get(WATCHER, None)
    if watcher is None:
        return (yield)
    watcher.start()
    try:
        return (yield)
    finally:
        item.stash[EAGER_LOADS] = watcher.stop()


def unused_eager_load_findings(item: pytest.Item) -> list[Finding]:
    """The test's unused eager loads, judged with its mode (none when the check is off)."""
    loads = item.stash.get(EAGER_LOADS, None)
    if not loads:
        return []
    return find_unused_eager_loads(loads, item.config.stash[state.SETTINGS].unused_eager_loads)
