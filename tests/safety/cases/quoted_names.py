"""Issue 10, item 17: names that need quoting ("Order Items", the reserved word user, unicode)
and partitioned tables: snapshot lines must read back ("Plans changed" forever otherwise, even
right after an update)."""

from sqlalchemy import text

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
        CREATE TABLE "user" (id integer PRIMARY KEY, email text NOT NULL, created_at integer NOT NULL);
        CREATE INDEX ix_user_created_at ON "user" (created_at);
        INSERT INTO "user" SELECT n, 'u' || n, n FROM generate_series(1, 20) AS n;
        CREATE TABLE "Order Items" (id integer PRIMARY KEY, "Order Id" integer NOT NULL);
        CREATE INDEX "ix Order Items" ON "Order Items" ("Order Id");
        INSERT INTO "Order Items" SELECT n, n % 5 FROM generate_series(1, 20) AS n;
        CREATE TABLE "Ünïcödé" (id integer PRIMARY KEY, "naïve" text NOT NULL);
        INSERT INTO "Ünïcödé" VALUES (1, 'a');
        CREATE TABLE measurements (id integer NOT NULL, day integer NOT NULL, value integer NOT NULL)
            PARTITION BY RANGE (day);
        CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (100);
        CREATE TABLE measurements_2 PARTITION OF measurements FOR VALUES FROM (100) TO (200);
        CREATE INDEX ix_measurements_id ON measurements (id);
        INSERT INTO measurements SELECT n, n % 200, n FROM generate_series(1, 400) AS n;
    """,
}


def test_reserved_word(db):
    db.connect(
        lambda conn: conn.execute(text('SELECT email FROM "user" WHERE created_at = 5')).all()
    )


def test_space_in_names(db):
    db.connect(
        lambda conn: conn.execute(text('SELECT id FROM "Order Items" WHERE "Order Id" = 3')).all()
    )


def test_unicode_names(db):
    db.connect(lambda conn: conn.execute(text('SELECT "naïve" FROM "Ünïcödé" WHERE id = 1')).all())


def test_partitioned_table(db):
    db.connect(
        lambda conn: conn.execute(text("SELECT value FROM measurements WHERE id = 42")).all()
    )
