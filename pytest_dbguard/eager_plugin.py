"""pytest wiring of the unused-eager-load check (``capture/eager.py``, ``rules/eager.py``):
the watcher runs around each test's call and leaves what it saw in the item's stash, where the
main plugin judges it with the test's other findings (``plugin._judge``). Loaded through the
main plugin's ``pytest_plugins`` and imported by nothing else (a module pytest loads as a
plugin must not be imported before, or pytest warns that it cannot rewrite its asserts)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .capture.eager import EagerLoadWatcher
from .findings import Mode
from .outcome import state

WATCHER = pytest.StashKey[EagerLoadWatcher]()


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
        item.stash[state.EAGER_LOADS] = watcher.stop()
