"""Settings the test sets itself (SET, SET LOCAL, set_config, a custom setting read by a view) stay exactly as the test left them around the plugin's statements,
on autocommit and inside a transaction."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE notes (id integer PRIMARY KEY, owner text NOT NULL, body text NOT NULL);
        INSERT INTO notes VALUES (1, 'ann', 'a'), (2, 'bob', 'b');
        CREATE VIEW my_notes AS SELECT id, body FROM notes WHERE owner = current_setting('app.user', true);
    """,
}
SETTINGS = (
    "enable_seqscan",
    "work_mem",
    "lock_timeout",
    "statement_timeout",
    "search_path",
    "app.user",
    "jit",
    "random_page_cost",
)


def shown(conn):
    rows = conn.execute(
        text(
            "SELECT name, current_setting(name, true) FROM unnest(CAST(:names AS text[])) AS name"
        ),
        {"names": list(SETTINGS)},
    )
    return dict(rows.all())


def test_session_and_local_settings_in_a_transaction(db, observe):
    def run(conn):
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET LOCAL work_mem = '7MB'"))
        conn.execute(text("SELECT set_config('random_page_cost', '1.5', true)"))
        conn.execute(text("SET lock_timeout = '1234ms'"))
        conn.execute(text("SELECT body FROM notes WHERE id = 1")).all()
        return shown(conn)

    observe("inside", db.begin(run))


def test_settings_on_autocommit(db, observe):
    def run(conn):
        conn.execute(text("SET statement_timeout = '4321ms'"))
        conn.execute(text("SET jit = off"))
        conn.execute(text("SELECT body FROM notes WHERE id = 2")).all()
        return shown(conn)

    observe("after", db.connect(run, isolation_level="AUTOCOMMIT"))


def test_custom_setting_read_by_a_view(db, observe):
    def run(conn):
        conn.execute(text("SELECT set_config('app.user', 'ann', false)"))
        return (
            conn.execute(text("SELECT body FROM my_notes WHERE id IN (1, 2) ORDER BY id"))
            .scalars()
            .all()
        )

    observe("visible", db.begin(run))
