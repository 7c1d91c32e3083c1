"""A corpus of SQL forms the plugin EXPLAINs (or must leave alone), on every driver: RETURNING,
ON CONFLICT, data-modifying CTEs, INSERT ... SELECT, UPDATE ... FROM, DELETE ... USING, views,
partitions, temporary tables, DO, CALL, JSON operators, executemany. Nothing may differ."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE posts (
            id serial PRIMARY KEY,
            author_id integer NOT NULL REFERENCES authors (id),
            title text NOT NULL,
            meta jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX ix_posts_author_id ON posts (author_id);
        CREATE TABLE archive (id integer PRIMARY KEY, title text NOT NULL);
        CREATE VIEW post_titles AS SELECT p.id, a.name, p.title FROM posts p JOIN authors a ON a.id = p.author_id;
        CREATE TABLE readings (id integer NOT NULL, day integer NOT NULL) PARTITION BY RANGE (day);
        CREATE TABLE readings_a PARTITION OF readings FOR VALUES FROM (0) TO (10);
        CREATE TABLE readings_b PARTITION OF readings FOR VALUES FROM (10) TO (20);
        CREATE INDEX ix_readings_id ON readings (id);
        CREATE TABLE audit (id serial PRIMARY KEY, note text NOT NULL);
        CREATE PROCEDURE add_audit(note text) LANGUAGE sql AS $$ INSERT INTO audit (note) VALUES (note) $$;
        INSERT INTO authors (name) VALUES ('ann'), ('bob');
        INSERT INTO posts (author_id, title, meta) VALUES (1, 'one', '{"draft": true}'), (2, 'two', '{}');
    """,
}


def test_returning_and_on_conflict(db, observe):
    def run(conn):
        new_id = conn.execute(
            text("INSERT INTO authors (name) VALUES (:n) RETURNING id"), {"n": "cy"}
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO authors (name) VALUES (:n) ON CONFLICT (name) DO UPDATE SET name = excluded.name || '!'"
            ),
            {"n": "ann"},
        )
        conn.execute(text("INSERT INTO authors (name) VALUES ('bob') ON CONFLICT DO NOTHING"))
        return new_id

    observe("new id", db.begin(run))


def test_data_modifying_ctes(db, observe):
    def run(conn):
        moved = (
            conn.execute(
                text(
                    "WITH gone AS (DELETE FROM posts WHERE id = :id RETURNING id, title) "
                    "INSERT INTO archive SELECT id, title FROM gone RETURNING id"
                ),
                {"id": 2},
            )
            .scalars()
            .all()
        )
        renamed = conn.execute(
            text(
                "WITH r AS (UPDATE authors SET name = upper(name) WHERE id = 1 RETURNING name) SELECT name FROM r"
            )
        ).scalar()
        return [moved, renamed]

    observe("result", db.begin(run))


def test_joins_in_writes(db, observe):
    def run(conn):
        conn.execute(
            text(
                "UPDATE posts SET title = a.name || ': ' || posts.title FROM authors a WHERE a.id = posts.author_id AND posts.id = 1"
            )
        )
        conn.execute(
            text("INSERT INTO archive (id, title) SELECT id + 100, title FROM posts WHERE id = 1")
        )
        conn.execute(
            text(
                "DELETE FROM archive USING posts WHERE archive.id = posts.id + 100 AND posts.id = 1"
            )
        )
        return conn.execute(text("SELECT title FROM posts WHERE id = 1")).scalar()

    observe("title", db.begin(run))


def test_view_partitions_and_json(db, observe):
    def run(conn):
        conn.execute(text("INSERT INTO readings VALUES (1, 5), (2, 15)"))
        return [
            conn.execute(text("SELECT name, title FROM post_titles WHERE id = 1")).all(),
            conn.execute(text("SELECT day FROM readings WHERE id = 2")).scalar(),
            conn.execute(
                text("SELECT count(*) FROM posts WHERE id = 1 AND meta ? 'draft'")
            ).scalar(),
            conn.execute(text("SELECT meta->>'draft' FROM posts WHERE id = 1")).scalar(),
        ]

    observe("result", repr(db.begin(run)))


def test_temporary_tables(db, observe):
    def run(conn):
        conn.execute(
            text("CREATE TEMPORARY TABLE scratch (id serial PRIMARY KEY, v text) ON COMMIT DROP")
        )
        conn.execute(text("INSERT INTO scratch (v) VALUES ('a'), ('b')"))
        return conn.execute(text("SELECT id FROM scratch WHERE id = 2")).scalar()

    observe("id", db.begin(run))

    def autocommit(conn):
        conn.execute(text("CREATE TEMPORARY TABLE kept (id integer PRIMARY KEY)"))
        conn.execute(text("INSERT INTO kept VALUES (1)"))
        return conn.execute(text("SELECT count(*) FROM kept WHERE id = 1")).scalar()

    observe("autocommit", db.connect(autocommit, isolation_level="AUTOCOMMIT"))


def test_do_and_call(db, observe):
    def run(conn):
        conn.execute(text("DO $$ BEGIN INSERT INTO audit (note) VALUES ('from do'); END $$"))
        conn.execute(text("CALL add_audit('from call')"))
        return conn.execute(text("SELECT note FROM audit ORDER BY id")).scalars().all()

    observe("notes", db.begin(run))


def test_executemany(db, observe):
    def run(conn):
        conn.execute(
            text("INSERT INTO archive (id, title) VALUES (:id, :title)"),
            [{"id": 10 + n, "title": f"t{n}"} for n in range(5)],
        )
        conn.execute(
            text("UPDATE archive SET title = :title WHERE id = :id"),
            [{"id": 10 + n, "title": f"u{n}"} for n in range(5)],
        )
        return conn.execute(
            text("SELECT count(*) FROM archive WHERE id >= 10 AND title LIKE :p"), {"p": "u%"}
        ).scalar()

    observe("updated", db.begin(run))


def test_copy(db, observe):
    """COPY through SQLAlchemy (server side, as the superuser the suite runs as) and, on
    psycopg, COPY FROM STDIN on the driver's own cursor between SQLAlchemy statements."""

    def run(conn):
        conn.execute(text("COPY (SELECT id, title FROM posts WHERE id = 1) TO '/dev/null'"))
        if db.driver == "psycopg":
            cursor = conn.connection.driver_connection.cursor()
            with cursor, cursor.copy("COPY archive (id, title) FROM STDIN") as copy:
                copy.write_row((50, "copied"))
        else:
            conn.execute(text("INSERT INTO archive VALUES (50, 'copied')"))
        return conn.execute(text("SELECT title FROM archive WHERE id = 50")).scalar()

    observe("copied", db.begin(run))
