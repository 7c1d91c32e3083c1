"""Issue 10, item 20: Sort Key, Group Key and database error messages keep parameter values:
a secret reaches .plan files, warnings and reports; a value that changes per run fails the
snapshot forever; a newline in a value writes a file that cannot be read back."""

import time

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "drivers": ["psycopg", "asyncpg"],
    "steps": [
        [
            "--dbguard-plans",
            "--dbguard-update",
            "--dbguard-report=report.md",
            "--dbguard-json=report.json",
        ],
        ["--dbguard-plans"],
    ],
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL, created double precision NOT NULL);
        INSERT INTO accounts SELECT n, 'name ' || n, n FROM generate_series(1, 30) AS n;
    """,
    "secrets": ["sk_live_51HxSECRETvalue", "tok_SECRET_in_error"],
}


def test_secret_in_a_sort_key(db):
    db.connect(
        lambda conn: conn.execute(
            text("SELECT id FROM accounts WHERE id < 10 ORDER BY position(:token IN name), id"),
            {"token": "sk_live_51HxSECRETvalue"},
        ).all()
    )


def test_value_that_changes_per_run(db):
    db.connect(
        lambda conn: conn.execute(
            text("SELECT id FROM accounts WHERE id < 10 ORDER BY abs(created - :now), id"),
            {"now": time.time()},
        ).all()
    )


def test_newline_in_a_value(db):
    db.connect(
        lambda conn: conn.execute(
            text("SELECT id FROM accounts WHERE id < 10 ORDER BY position(:needle IN name), id"),
            {"needle": "a\nb"},
        ).all()
    )


def test_secret_in_an_error(db):
    def run(conn):
        with pytest.raises(exc.DBAPIError):
            conn.execute(
                text("SELECT name FROM accounts WHERE id = CAST(:v AS integer)"),
                {"v": "tok_SECRET_in_error"},
            )

    db.connect(run)
