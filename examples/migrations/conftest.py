"""What the migration checks of this directory check, and where.

pytest-dbguard's ``dbguard_migrations`` fixture reads three fixtures, overridden here as a
project would in its conftest.py (each also has an ini option: dbguard_alembic_config,
dbguard_migrations_url, dbguard_migrations_seed):

- the Alembic configuration: ``alembic.ini`` beside this file;
- the PostgreSQL server to create a fresh database on: the examples' server (a throwaway
  PostgreSQL 18, or DBGUARD_TEST_DATABASE_URL; see testing/dbguard_pg.py);
- ``research_data.seed``, which gives the tables the research app's rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dbguard_alembic_config() -> str:
    return str(Path(__file__).with_name("alembic.ini"))


@pytest.fixture(scope="session")
def dbguard_migrations_url() -> str:
    return os.environ["DBGUARD_TEST_DATABASE_URL"]  # set by dbguard_pg for the whole run


@pytest.fixture(scope="session")
def dbguard_migrations_seed() -> str:
    return "research_data:seed"
