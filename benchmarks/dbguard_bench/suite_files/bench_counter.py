"""The hand-written query counter pytest-dbguard's capture is compared with
(``-p bench_counter``): the least any counting plugin can do."""

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

count = 0


def _count(*args: Any) -> None:
    global count
    count += 1


def pytest_configure(config: pytest.Config) -> None:
    event.listen(Engine, "before_cursor_execute", _count)


def pytest_unconfigure(config: pytest.Config) -> None:
    event.remove(Engine, "before_cursor_execute", _count)
