"""Issue 10, item 1: a statement whose text ends in a ``-- comment``.

The plugin's one-round-trip script (psycopg 3) is joined on one line: the comment swallows
its closing ROLLBACK. On an autocommit engine the user's UPDATE then runs inside the plugin's
never-closed BEGIN and is rolled back when the connection returns to the pool; inside a
transaction the plugin's planner settings stay for the rest of the test.
"""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);
        INSERT INTO accounts VALUES (1, 100), (2, 100);
    """,
}

SETTINGS = ("enable_seqscan", "lock_timeout", "statement_timeout", "jit", "work_mem")


def balance(conn):
    return conn.execute(text("SELECT balance FROM accounts WHERE id = 1")).scalar()


def test_autocommit_update_with_a_trailing_comment_is_kept(db, observe):
    def pay(conn):
        conn.execute(text("UPDATE accounts SET balance = balance + 50 WHERE id = 1 -- pay"))

    db.connect(pay, isolation_level="AUTOCOMMIT")
    observe("balance", db.connect(balance))


def test_settings_after_a_select_with_a_trailing_comment(db, observe):
    def read(conn):
        conn.execute(text("SELECT balance FROM accounts WHERE id = 2 -- read"))
        return {name: conn.execute(text(f"SHOW {name}")).scalar() for name in SETTINGS}

    observe("settings", db.begin(read))


def test_trailing_comment_after_a_semicolon(db, observe):
    def pay(conn):
        conn.execute(text("UPDATE accounts SET balance = balance - 10 WHERE id = 2; -- done"))

    db.connect(pay, isolation_level="AUTOCOMMIT")
    observe(
        "balance",
        db.connect(
            lambda conn: conn.execute(text("SELECT balance FROM accounts WHERE id = 2")).scalar()
        ),
    )


def test_vacuum_after_a_select_with_a_trailing_comment(db, observe):
    """VACUUM cannot run inside a transaction block: the plugin's open BEGIN breaks it."""

    def clean(conn):
        conn.execute(text("SELECT balance FROM accounts WHERE id = 1 -- before vacuum"))
        conn.execute(text("VACUUM accounts"))
        return "vacuumed"

    observe("result", db.connect(clean, isolation_level="AUTOCOMMIT"))
