"""SQLModel sessions: ``session.exec`` is a wrapper in site-packages; call sites name the user's
line, never sqlmodel's."""

from __future__ import annotations

import pytest

MODELS = """
from sqlmodel import Field, Relationship, SQLModel


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    heroes: list["Hero"] = Relationship(back_populates="team")


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    team: Team | None = Relationship(back_populates="heroes")
"""

CONFTEST = """
import os

import pytest
from sqlmodel import Session, SQLModel, create_engine

from models import Hero, Team


@pytest.fixture
def engine():
    engine = create_engine(os.environ["DBGUARD_INNER_URL"])
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        for number in range(4):
            heroes = [Hero(name=f"hero {number}.{n}") for n in range(2)]
            session.add(Team(name=f"team {number}", heroes=heroes))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session
"""

TESTS = """
import pytest
from sqlmodel import select

from models import Hero, Team


def test_heroes_per_team(session):
    for team in session.exec(select(Team)):
        len(team.heroes)


def test_query_per_team(session):
    for team in session.exec(select(Team)).all():
        session.exec(select(Hero).where(Hero.team_id == team.id)).all()


@pytest.mark.max_queries(1)
def test_over_budget(session):
    session.exec(select(Team)).all()
    session.exec(select(Hero)).all()


def test_call_sites_in_the_users_code(session, dbguard):
    session.exec(select(Team)).all()
    sites = [str(query.call_site) for query in dbguard.queries if query.kind == "select"]
    assert sites == ["test_sqlmodel.py:24 in test_call_sites_in_the_users_code"]
"""


@pytest.mark.usefixtures("pg_db")
def test_call_sites_name_the_users_lines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(models=MODELS, conftest=CONFTEST, test_sqlmodel=TESTS)
    # a subprocess: pydantic-core, a C extension, is not imported twice in one process
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.no_fnmatch_line("*sqlmodel/*")
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: Team.heroes was lazy-loaded for 4 Team objects, one query each",
            "*at test_sqlmodel.py:9 in test_heroes_per_team",
            "*select(Team).options(selectinload(Team.heroes))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: the same SELECT ran 4 times from one call site with different parameters, in one unit of work",
            "*at test_sqlmodel.py:14 in test_query_per_team",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Expected at most 1 query, 2 were run*",
            "*at test_sqlmodel.py:19 in test_over_budget",
            "*at test_sqlmodel.py:20 in test_over_budget",
        ]
    )
