"""The corpus of statements whose EXPLAIN plans ``record_plans.py`` records on each PostgreSQL
major version, for the rules' in-process tests. Data only.

Each case runs in a database of its own: ``schema`` (tables, indexes, views), then ``seed`` (with
``{rows}`` replaced by the case's ``rows``), then its plans are taken. ``statement`` uses
``$1``-style placeholders (the ``indexed`` plan is generic); ``parameters`` are bound for the
``as_is`` plan; ``trial_indexes`` are created inside a savepoint for the ``indexed_with`` plan.
``expect`` says in one line what a rule should conclude from the plans.

Schemas hold only primary keys and foreign keys; each case adds the secondary indexes that
matter to it, so that what is indexed is read in the case itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # one line: what a rule should conclude
    schema: str  # DDL, run first
    seed: str  # SQL with {rows}, run after the schema
    statement: str  # $1-style placeholders
    parameters: tuple[object, ...] = ()  # values of $1, $2 ... for the as_is plan
    trial_indexes: tuple[str, ...] = ()  # CREATE INDEX statements that should prove a fix
    rows: int = 12  # the seed's {rows}: the size of its main table
    analyze: bool = False  # ANALYZE after the seed (default: never analyzed, as in a test)


# --- Schemas and seeds ---------------------------------------------------------------------

# A shop: users and their items (the shapes of SQLAlchemy's ORM tutorial).
SHOP = """
CREATE TABLE users (
    id integer PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE items (
    id integer PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    title text NOT NULL,
    price numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
"""
SHOP_SEED = """
INSERT INTO users (id, email, name, status, archived, deleted_at, created_at)
SELECT n, 'user' || n || '@example.com', 'User ' || n,
       (ARRAY['active', 'active', 'pending', 'banned'])[1 + n % 4],
       n % 5 = 0,
       CASE WHEN n % 7 = 0 THEN timestamptz '2024-02-01 00:00+00' + n * interval '1 day' END,
       timestamptz '2024-01-01 00:00+00' + n * interval '1 hour'
FROM generate_series(1, {rows}) AS n;
INSERT INTO items (id, user_id, title, price, created_at, deleted_at)
SELECT n, 1 + n % {rows}, 'item ' || n, 10 + n % 90,
       timestamptz '2024-01-01 00:00+00' + n * interval '1 hour',
       CASE WHEN n % 6 = 0 THEN timestamptz '2024-03-01 00:00+00' END
FROM generate_series(1, 3 * {rows}) AS n;
"""

# A blog: users write posts, posts have comments (selectinload and joinedload shapes).
BLOG = """
CREATE TABLE users (
    id integer PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL,
    status text NOT NULL
);
CREATE TABLE posts (
    id integer PRIMARY KEY,
    author_id integer NOT NULL REFERENCES users (id),
    title text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE comments (
    id integer PRIMARY KEY,
    post_id integer NOT NULL REFERENCES posts (id),
    author_id integer NOT NULL REFERENCES users (id),
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
"""
BLOG_SEED = """
INSERT INTO users (id, name, email, status)
SELECT n, 'User ' || n, 'user' || n || '@example.com',
       (ARRAY['active', 'active', 'pending', 'banned'])[1 + n % 4]
FROM generate_series(1, {rows}) AS n;
INSERT INTO posts (id, author_id, title, status, created_at, attributes)
SELECT n, 1 + n % {rows}, 'post ' || n, (ARRAY['draft', 'published', 'published'])[1 + n % 3],
       timestamptz '2024-01-01 00:00+00' + n * interval '1 hour',
       jsonb_build_object('lang', (ARRAY['en', 'fr'])[1 + n % 2], 'featured', n % 5 = 0)
FROM generate_series(1, 2 * {rows}) AS n;
INSERT INTO comments (id, post_id, author_id, body, created_at)
SELECT n, 1 + n % (2 * {rows}), 1 + n % {rows}, 'comment ' || n,
       timestamptz '2024-01-02 00:00+00' + n * interval '1 hour'
FROM generate_series(1, 4 * {rows}) AS n;
"""

# Bills shared between people (issue 11's report: an unindexed foreign key read through a join).
BILLS = """
CREATE TABLE people (
    id integer PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE bills (
    id integer PRIMARY KEY,
    title text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE billowers (
    id integer PRIMARY KEY,
    bill_id integer NOT NULL REFERENCES bills (id),
    person_id integer NOT NULL REFERENCES people (id),
    share numeric(10, 2) NOT NULL
);
CREATE INDEX ix_billowers_bill_id ON billowers (bill_id);
"""
BILLS_SEED = """
INSERT INTO people (id, name) SELECT n, 'Person ' || n FROM generate_series(1, {rows}) AS n;
INSERT INTO bills (id, title, amount, created_at)
SELECT n, 'bill ' || n, 5 * n, timestamptz '2024-01-01 00:00+00' + n * interval '1 day'
FROM generate_series(1, 2 * {rows}) AS n;
INSERT INTO billowers (id, bill_id, person_id, share)
SELECT n, 1 + n % (2 * {rows}), 1 + n % {rows}, n FROM generate_series(1, 3 * {rows}) AS n;
"""

# Events partitioned by month.
EVENTS = """
CREATE TABLE events (
    id integer NOT NULL,
    kind text NOT NULL,
    user_id integer NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE events_2024_01 PARTITION OF events
    FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2024-02-01 00:00+00');
CREATE TABLE events_2024_02 PARTITION OF events
    FOR VALUES FROM ('2024-02-01 00:00+00') TO ('2024-03-01 00:00+00');
CREATE TABLE events_2024_03 PARTITION OF events
    FOR VALUES FROM ('2024-03-01 00:00+00') TO ('2024-04-01 00:00+00');
"""
EVENTS_SEED = """
INSERT INTO events (id, kind, user_id, created_at)
SELECT n, (ARRAY['login', 'logout', 'purchase'])[1 + n % 3], 1 + n % 7,
       timestamptz '2024-01-01 00:00+00' + (n % 91) * interval '1 day'
FROM generate_series(1, {rows}) AS n;
"""

# A job queue (the SKIP LOCKED pattern).
JOBS = """
CREATE TABLE jobs (
    id integer PRIMARY KEY,
    queue text NOT NULL,
    state text NOT NULL,
    run_at timestamptz NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'
);
"""
JOBS_SEED = """
INSERT INTO jobs (id, queue, state, run_at)
SELECT n, (ARRAY['mail', 'billing'])[1 + n % 2], (ARRAY['done', 'done', 'queued'])[1 + n % 3],
       timestamptz '2024-01-01 00:00+00' + n * interval '1 minute'
FROM generate_series(1, {rows}) AS n;
"""


# --- Cases ---------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # 1. Equality filters.
    Case(
        name="pk_lookup",
        expect="served: Index Scan using users_pkey, Index Cond (id = $1); no finding",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, users.email FROM users WHERE users.id = $1",
        parameters=(3,),
    ),
    Case(
        name="equality_indexed",
        expect="served: the index on users.email has an Index Cond (email = $1); no finding",
        schema=SHOP + "CREATE INDEX ix_users_email ON users (email);",
        seed=SHOP_SEED,
        statement="SELECT users.id, users.name FROM users WHERE users.email = $1",
        parameters=("user3@example.com",),
    ),
    Case(
        name="equality_unindexed",
        expect="whole-table read of users, Filter (email = $1); the trial index on (email) "
        "serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, users.name FROM users WHERE users.email = $1",
        parameters=("user3@example.com",),
        trial_indexes=("CREATE INDEX ix_users_email ON users (email)",),
    ),
    Case(
        name="equality_indexed_large",
        expect="served (3,000 analyzed rows: the as_is plan uses the index too); no finding",
        schema=SHOP + "CREATE INDEX ix_users_email ON users (email);",
        seed=SHOP_SEED,
        statement="SELECT users.id, users.name FROM users WHERE users.email = $1",
        parameters=("user3@example.com",),
        rows=3000,
        analyze=True,
    ),
    Case(
        name="equality_unindexed_large",
        expect="whole-table read of users (3,000 analyzed rows: the as_is plan is a Seq Scan "
        "too); the trial index on (email) serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, users.name FROM users WHERE users.email = $1",
        parameters=("user3@example.com",),
        trial_indexes=("CREATE INDEX ix_users_email ON users (email)",),
        rows=3000,
        analyze=True,
    ),
    Case(
        name="in_list_primary_key",
        expect="served: users_pkey with Index Cond (id = ANY (ARRAY[$1, $2, $3])); no finding",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, users.email FROM users WHERE users.id IN ($1, $2, $3)",
        parameters=(1, 2, 3),
    ),
    # 2. An unindexed foreign key read through a join (issue 11).
    Case(
        name="fk_join_unindexed",
        expect="whole-table read of billowers, Filter (person_id = $1), feeding the join to "
        "bills; the trial index on billowers (person_id) serves it",
        schema=BILLS,
        seed=BILLS_SEED,
        statement="SELECT bills.id, bills.title, bills.amount FROM bills "
        "JOIN billowers ON billowers.bill_id = bills.id WHERE billowers.person_id = $1",
        parameters=(2,),
        trial_indexes=("CREATE INDEX ix_billowers_person_id ON billowers (person_id)",),
    ),
    Case(
        name="fk_join_indexed",
        expect="served: billowers by its person_id index, bills by primary key; no finding",
        schema=BILLS + "CREATE INDEX ix_billowers_person_id ON billowers (person_id);",
        seed=BILLS_SEED,
        statement="SELECT bills.id, bills.title, bills.amount FROM bills "
        "JOIN billowers ON billowers.bill_id = bills.id WHERE billowers.person_id = $1",
        parameters=(2,),
    ),
    Case(
        name="fk_join_pk_walk_ordered",
        expect="ORDER BY bills.id DESC LIMIT 20: billowers walked backwards along its bill_id "
        "index (the join makes bill_id order bills.id order) with the unindexed person_id in "
        "a Filter; finding on billowers (person_id), the trial index serves it",
        schema=BILLS,
        seed=BILLS_SEED,
        statement="SELECT bills.id, bills.title, bills.amount FROM bills "
        "JOIN billowers ON billowers.bill_id = bills.id WHERE billowers.person_id = $1 "
        "ORDER BY bills.id DESC LIMIT 20",
        parameters=(2,),
        trial_indexes=("CREATE INDEX ix_billowers_person_id ON billowers (person_id)",),
    ),
    Case(
        name="main_page_pk_walk",
        expect="the main page (every bill, with one person's share when there is one): a full "
        "walk of bills_pkey feeding a LEFT join, billowers probed by bill_id with person_id "
        "in a Filter on the rows found; a listing by design (LIMIT), no finding",
        schema=BILLS,
        seed=BILLS_SEED,
        statement="SELECT bills.id, bills.title, billowers.share FROM bills "
        "LEFT OUTER JOIN billowers ON billowers.bill_id = bills.id "
        "AND billowers.person_id = $1 ORDER BY bills.id LIMIT 20",
        parameters=(2,),
    ),
    Case(
        name="join_listing_no_filter",
        expect="the join of bills and billowers with no filter, ORDER BY bills.id LIMIT 20: a "
        "whole walk of one side's index feeding the join; a listing by design, no finding",
        schema=BILLS,
        seed=BILLS_SEED,
        statement="SELECT bills.id, bills.title, billowers.person_id FROM bills "
        "JOIN billowers ON billowers.bill_id = bills.id ORDER BY bills.id LIMIT 20",
    ),
    # 3. An unindexed filter inside a join, probed through the other table's index.
    Case(
        name="join_filter_on_pk_probe",
        expect="users.status is unindexed: the planner walks posts (author_id index, no Index "
        "Cond) and probes users by primary key with status in a Filter, or reads users "
        "whole; finding on users (status), the trial index serves it",
        schema=BLOG + "CREATE INDEX ix_posts_author_id ON posts (author_id);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts "
        "JOIN users ON users.id = posts.author_id WHERE users.status = $1",
        parameters=("banned",),
        trial_indexes=("CREATE INDEX ix_users_status ON users (status)",),
    ),
    Case(
        name="three_table_join_far_filter",
        expect="comments.post_id and users.status unindexed: whole-table reads of comments "
        "(join condition) and users (Filter); trial indexes on both serve them",
        schema=BLOG + "CREATE INDEX ix_posts_author_id ON posts (author_id);",
        seed=BLOG_SEED,
        statement="SELECT comments.id, comments.body FROM comments "
        "JOIN posts ON posts.id = comments.post_id "
        "JOIN users ON users.id = posts.author_id WHERE users.status = $1",
        parameters=("banned",),
        trial_indexes=(
            "CREATE INDEX ix_users_status ON users (status)",
            "CREATE INDEX ix_comments_post_id ON comments (post_id)",
        ),
    ),
    # 4. Filters that no B-tree index narrows, and IS NULL (which a B-tree serves).
    Case(
        name="not_equal_indexed",
        expect="status <> $1 reads users whole although status is indexed: a finding with no "
        "candidate index (a B-tree does not serve <>)",
        schema=SHOP + "CREATE INDEX ix_users_status ON users (status);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.status <> $1",
        parameters=("banned",),
    ),
    Case(
        name="not_in_indexed",
        expect="status NOT IN (...) (<> ALL) reads users whole although status is indexed: no "
        "candidate index",
        schema=SHOP + "CREATE INDEX ix_users_status ON users (status);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.status NOT IN ($1, $2)",
        parameters=("banned", "pending"),
    ),
    Case(
        name="boolean_not_unindexed",
        expect="NOT archived on an unindexed boolean: whole-table read; a candidate on one "
        "boolean column narrows little (a partial index WHERE NOT archived is the real fix)",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE NOT users.archived",
        trial_indexes=("CREATE INDEX ix_users_active ON users (id) WHERE NOT archived",),
    ),
    Case(
        name="boolean_equals_false_unindexed",
        expect="archived = false with a bound parameter: whole-table read, Filter (archived = "
        "$1); the trial index on (archived) serves it in the generic plan",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.archived = $1",
        parameters=(False,),
        trial_indexes=("CREATE INDEX ix_users_archived ON users (archived)",),
    ),
    Case(
        name="boolean_not_indexed",
        expect="NOT archived with an index on archived: the planner uses it (Index Cond "
        "archived = false); no finding",
        schema=SHOP + "CREATE INDEX ix_users_archived ON users (archived);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE NOT users.archived",
    ),
    Case(
        name="is_null_indexed",
        expect="deleted_at IS NULL is served by a B-tree on deleted_at (Index Cond); no finding",
        schema=SHOP + "CREATE INDEX ix_users_deleted_at ON users (deleted_at);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.deleted_at IS NULL",
    ),
    Case(
        name="is_null_unindexed",
        expect="deleted_at IS NULL unindexed: whole-table read; the trial index on (deleted_at) "
        "serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.deleted_at IS NULL",
        trial_indexes=("CREATE INDEX ix_users_deleted_at ON users (deleted_at)",),
    ),
    Case(
        name="equality_and_is_null",
        expect="user_id = $1 AND deleted_at IS NULL: served by the user_id index, deleted_at "
        "left in a Filter on the rows it found; no finding",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT items.id, items.title FROM items "
        "WHERE items.user_id = $1 AND items.deleted_at IS NULL",
        parameters=(2,),
    ),
    Case(
        name="partial_index_matching",
        expect="served by the partial index (user_id) WHERE deleted_at IS NULL: the query "
        "repeats its predicate; no finding",
        schema=SHOP + "CREATE INDEX ix_items_live_user_id ON items (user_id) "
        "WHERE deleted_at IS NULL;",
        seed=SHOP_SEED,
        statement="SELECT items.id, items.title FROM items "
        "WHERE items.user_id = $1 AND items.deleted_at IS NULL",
        parameters=(2,),
    ),
    Case(
        name="partial_index_not_matching",
        expect="user_id = $1 without the partial index's predicate: the partial index cannot "
        "be used, whole-table read; candidate (user_id), which the trial proves",
        schema=SHOP + "CREATE INDEX ix_items_live_user_id ON items (user_id) "
        "WHERE deleted_at IS NULL;",
        seed=SHOP_SEED,
        statement="SELECT items.id, items.title FROM items WHERE items.user_id = $1",
        parameters=(2,),
        trial_indexes=("CREATE INDEX ix_items_user_id ON items (user_id)",),
    ),
    # 5. A composite index whose first column is not compared.
    Case(
        name="composite_second_column",
        expect="created_at > $1 with only (author_id, created_at): a walk of the whole index "
        "with an Index Cond on its second column (or a whole-table read); finding, the trial "
        "index on (created_at) serves it",
        schema=BLOG + "CREATE INDEX ix_posts_author_created ON posts (author_id, created_at);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts WHERE posts.created_at > $1",
        parameters=("2024-01-01 20:00+00",),
        trial_indexes=("CREATE INDEX ix_posts_created_at ON posts (created_at)",),
    ),
    Case(
        name="composite_both_columns",
        expect="author_id = $1 AND created_at > $2 with (author_id, created_at): served, both "
        "in the Index Cond; no finding",
        schema=BLOG + "CREATE INDEX ix_posts_author_created ON posts (author_id, created_at);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts "
        "WHERE posts.created_at > $1 AND posts.author_id = $2",
        parameters=("2024-01-01 20:00+00", 3),
    ),
    # 6. OR across columns: a BitmapOr needs an index for each arm.
    Case(
        name="or_unindexed_arm",
        expect="status = $1 OR title = $2 with an index on status only: whole-table read (no "
        "BitmapOr without an index for title); the trial index on (title) gives a BitmapOr",
        schema=BLOG + "CREATE INDEX ix_posts_status ON posts (status);",
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.status = $1 OR posts.title = $2",
        parameters=("draft", "post 3"),
        trial_indexes=("CREATE INDEX ix_posts_title ON posts (title)",),
    ),
    Case(
        name="or_no_index",
        expect="status = $1 OR title = $2, neither indexed: whole-table read; the two trial "
        "indexes, one per arm, give a BitmapOr",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.status = $1 OR posts.title = $2",
        parameters=("draft", "post 3"),
        trial_indexes=(
            "CREATE INDEX ix_posts_status ON posts (status)",
            "CREATE INDEX ix_posts_title ON posts (title)",
        ),
    ),
    Case(
        name="or_composite_trial",
        expect="status = $1 OR title = $2: the composite trial (status, title) does not serve "
        "the title arm (a walk of the whole index at best); not a fix",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.status = $1 OR posts.title = $2",
        parameters=("draft", "post 3"),
        trial_indexes=("CREATE INDEX ix_posts_status_title ON posts (status, title)",),
    ),
    Case(
        name="or_same_column",
        expect="status = $1 OR status = $2 with an index on status: served (a BitmapOr, or on "
        "PostgreSQL 18 one Index Cond with = ANY); no finding",
        schema=BLOG + "CREATE INDEX ix_posts_status ON posts (status);",
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.status = $1 OR posts.status = $2",
        parameters=("draft", "archived"),
    ),
    # 7. selectinload: ANY($1) and an expanded IN list on an unindexed foreign key.
    Case(
        name="selectinload_any_unindexed",
        expect="comments.post_id = ANY ($1) unindexed: whole-table read; the trial index on "
        "(post_id) serves it",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT comments.post_id, comments.id, comments.body FROM comments "
        "WHERE comments.post_id = ANY ($1)",
        parameters=([1, 2, 3],),
        trial_indexes=("CREATE INDEX ix_comments_post_id ON comments (post_id)",),
    ),
    Case(
        name="selectinload_in_unindexed",
        expect="comments.post_id IN ($1, $2, $3) unindexed: whole-table read; the trial index on "
        "(post_id) serves it",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT comments.post_id, comments.id, comments.body FROM comments "
        "WHERE comments.post_id IN ($1, $2, $3)",
        parameters=(1, 2, 3),
        trial_indexes=("CREATE INDEX ix_comments_post_id ON comments (post_id)",),
    ),
    # 8. ORDER BY ... LIMIT.
    Case(
        name="order_limit_unindexed",
        expect="ORDER BY created_at DESC LIMIT 10 without an index: the whole table is read and "
        "sorted for ten rows; the trial index on (created_at) serves it (a backward walk)",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts ORDER BY posts.created_at DESC LIMIT 10",
        trial_indexes=("CREATE INDEX ix_posts_created_at ON posts (created_at)",),
    ),
    Case(
        name="order_limit_indexed",
        expect="ORDER BY created_at DESC LIMIT 10 with an index: a backward walk that stops "
        "after ten rows (no Index Cond, no Filter); no finding",
        schema=BLOG + "CREATE INDEX ix_posts_created_at ON posts (created_at);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts ORDER BY posts.created_at DESC LIMIT 10",
    ),
    Case(
        name="filter_order_limit",
        expect="author_id = $1 ORDER BY created_at LIMIT 10 with (author_id) only: served, then "
        "a Sort; no finding. The trial (author_id, created_at) removes the Sort only where the "
        "planner picks a plain Index Scan (15, 16), not under a bitmap scan (18)",
        schema=BLOG + "CREATE INDEX ix_posts_author_id ON posts (author_id);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts WHERE posts.author_id = $1 "
        "ORDER BY posts.created_at LIMIT 10",
        parameters=(3,),
        trial_indexes=("CREATE INDEX ix_posts_author_created ON posts (author_id, created_at)",),
    ),
    Case(
        name="keyset_pagination",
        expect="(created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT 20 with an index on "
        "(created_at, id): served by a row comparison in the Index Cond; no finding",
        schema=BLOG + "CREATE INDEX ix_posts_created_id ON posts (created_at, id);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, posts.title FROM posts "
        "WHERE (posts.created_at, posts.id) > ($1, $2) "
        "ORDER BY posts.created_at, posts.id LIMIT 20",
        parameters=("2024-01-01 05:00+00", 5),
    ),
    Case(
        name="max_aggregate_indexed",
        expect="max(created_at) with an index: an InitPlan (Limit over a backward index walk, "
        "Index Cond created_at IS NOT NULL); no finding",
        schema=BLOG + "CREATE INDEX ix_posts_created_at ON posts (created_at);",
        seed=BLOG_SEED,
        statement="SELECT max(posts.created_at) FROM posts",
    ),
    # 9. Subqueries and join shapes.
    Case(
        name="correlated_count_indexed",
        expect="a correlated count(*) per user in the SELECT list: a SubPlan served by the "
        "items.user_id index (loops over users, which is read whole by design); no finding",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT users.id, (SELECT count(*) FROM items "
        "WHERE items.user_id = users.id) AS item_count FROM users",
    ),
    Case(
        name="cartesian_join",
        expect="no join condition between users and items: a cartesian product (a lint), users "
        "filtered on unindexed status",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, items.id FROM users, items WHERE users.status = $1",
        parameters=("banned",),
    ),
    Case(
        name="exists_unindexed_filter",
        expect="EXISTS on items with title unindexed: the semi join becomes Unique + inner join, "
        "items read whole (a walk of the user_id index with title in a Filter, or a Seq "
        "Scan); finding on items (title), the trial index serves it",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE EXISTS (SELECT 1 FROM items "
        "WHERE items.user_id = users.id AND items.title = $1)",
        parameters=("item 4",),
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    Case(
        name="in_subquery_unindexed",
        expect="id IN (SELECT user_id FROM items WHERE title = $1) with title unindexed: "
        "whole-table read of items (Filter title); the trial index on (title) serves it",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT users.id, users.email FROM users "
        "WHERE users.id IN (SELECT items.user_id FROM items WHERE items.title = $1)",
        parameters=("item 4",),
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    Case(
        name="lateral_top_n",
        expect="the three newest items of each active user (LATERAL ... LIMIT 3): items probed "
        "by user_id, then sorted; users.status unindexed (finding on users); the trial "
        "(user_id, created_at) removes the per-user Sort where a plain Index Scan is chosen",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT users.id, latest.title FROM users CROSS JOIN LATERAL ("
        "SELECT items.title FROM items WHERE items.user_id = users.id "
        "ORDER BY items.created_at DESC LIMIT 3) AS latest WHERE users.status = $1",
        parameters=("active",),
        trial_indexes=("CREATE INDEX ix_items_user_created ON items (user_id, created_at)",),
    ),
    Case(
        name="cte_materialized",
        expect="a MATERIALIZED CTE filtered on unindexed posts.created_at, then filtered again "
        "on the CTE Scan: the finding is on posts inside the CTE (created_at), not on the "
        "CTE Scan",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="WITH recent AS MATERIALIZED (SELECT posts.id, posts.author_id, posts.title "
        "FROM posts WHERE posts.created_at > $1) "
        "SELECT recent.id, recent.title FROM recent WHERE recent.author_id = $2",
        parameters=("2024-01-01 10:00+00", 3),
        trial_indexes=("CREATE INDEX ix_posts_created_at ON posts (created_at)",),
    ),
    # 10. A disabled sequential scan inside a SubPlan (the disable cost times the loops).
    Case(
        name="subplan_disabled_seqscan",
        expect="a correlated subquery on unindexed items.title: a disabled Seq Scan inside a "
        "SubPlan run once per user; before 18 the outer cost holds the 1e10 disable cost "
        "once per loop (n x 1e10); finding on items (title), the trial index serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, (SELECT count(*) FROM items "
        "WHERE items.title = users.name) AS same_name FROM users",
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    # 11. Names: another schema, quoting, reserved words, unicode.
    Case(
        name="other_schema",
        expect="archive.items (Schema archive) read whole on unindexed title while public.items "
        "has an index on title: the finding and candidate name archive.items",
        schema=SHOP
        + "CREATE INDEX ix_items_title ON items (title);"
        + "CREATE SCHEMA archive;"
        + "CREATE TABLE archive.items (id integer PRIMARY KEY, title text NOT NULL);",
        seed=SHOP_SEED + "INSERT INTO archive.items SELECT id, title FROM public.items;",
        statement="SELECT archive_items.id FROM archive.items AS archive_items "
        "WHERE archive_items.title = $1",
        parameters=("item 4",),
        trial_indexes=("CREATE INDEX ix_archive_items_title ON archive.items (title)",),
    ),
    Case(
        name="quoted_table_name",
        expect='"Order Items" read whole on unindexed "Order Id": names need quoting in the '
        "finding and in the CREATE INDEX",
        schema='CREATE TABLE "Order Items" (id integer PRIMARY KEY, "Order Id" integer NOT NULL, '
        '"Unit Price" numeric(10, 2) NOT NULL);',
        seed='INSERT INTO "Order Items" SELECT n, 1 + n % 5, n FROM generate_series(1, {rows}) '
        "AS n;",
        statement='SELECT "Order Items".id, "Order Items"."Unit Price" FROM "Order Items" '
        'WHERE "Order Items"."Order Id" = $1',
        parameters=(2,),
        trial_indexes=('CREATE INDEX "ix_Order Items_Order Id" ON "Order Items" ("Order Id")',),
    ),
    Case(
        name="reserved_word_table",
        expect='"user" (a reserved word) read whole on unindexed email: the name needs quoting',
        schema='CREATE TABLE "user" (id integer PRIMARY KEY, email text NOT NULL, '
        '"order" integer NOT NULL);',
        seed="INSERT INTO \"user\" SELECT n, 'user' || n || '@example.com', n "
        "FROM generate_series(1, {rows}) AS n;",
        statement='SELECT "user".id, "user"."order" FROM "user" WHERE "user".email = $1',
        parameters=("user3@example.com",),
        trial_indexes=('CREATE INDEX ix_user_email ON "user" (email)',),
    ),
    Case(
        name="unicode_column",
        expect='kunden read whole on unindexed "straße": a unicode column name, quoted',
        schema='CREATE TABLE kunden (id integer PRIMARY KEY, "straße" text NOT NULL, '
        '"größe" integer NOT NULL);',
        seed="INSERT INTO kunden SELECT n, 'Hauptstraße ' || n, n FROM generate_series(1, {rows}) "
        "AS n;",
        statement='SELECT kunden.id FROM kunden WHERE kunden."straße" = $1',
        parameters=("Hauptstraße 3",),
        trial_indexes=('CREATE INDEX "ix_kunden_straße" ON kunden ("straße")',),
    ),
    # 12. Partitions.
    Case(
        name="partitioned_unindexed",
        expect="every partition of events read whole on unindexed kind (an Append of scans): "
        "one finding on events (the parent), the trial index on the parent serves each "
        "partition",
        schema=EVENTS,
        seed=EVENTS_SEED,
        statement="SELECT events.id, events.created_at FROM events WHERE events.kind = $1",
        parameters=("purchase",),
        rows=40,
        trial_indexes=("CREATE INDEX ix_events_kind ON events (kind)",),
    ),
    Case(
        name="partitioned_pruned",
        expect="created_at >= $1 AND kind = $2: from 16 on the generic plan keeps every partition "
        "(kind in a Filter of each); on 15, EXECUTE with NULL parameters prunes every partition "
        "at executor start (Subplans Removed: 3, no scan left to judge); as_is prunes to one",
        schema=EVENTS,
        seed=EVENTS_SEED,
        statement="SELECT events.id FROM events WHERE events.created_at >= $1 AND events.kind = $2",
        parameters=("2024-03-01 00:00+00", "purchase"),
        rows=40,
        trial_indexes=("CREATE INDEX ix_events_kind ON events (kind)",),
    ),
    # 13. A view.
    Case(
        name="view_filtered",
        expect="a view over users and items filtered on unindexed items.title: the plan names "
        "the base tables (Relation Name items, users), never the view; finding on items",
        schema=SHOP
        + "CREATE INDEX ix_items_user_id ON items (user_id);"
        + "CREATE VIEW user_items AS SELECT users.id AS user_id, users.email, items.id AS "
        "item_id, items.title FROM users JOIN items ON items.user_id = users.id;",
        seed=SHOP_SEED,
        statement="SELECT user_items.email, user_items.item_id FROM user_items "
        "WHERE user_items.title = $1",
        parameters=("item 4",),
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    # 14. Data-modifying statements.
    Case(
        name="update_unindexed",
        expect="UPDATE ... WHERE title = $2 on unindexed title: whole-table read under the "
        "ModifyTable; the trial index on (title) serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="UPDATE items SET price = $1 WHERE items.title = $2",
        parameters=(12.5, "item 4"),
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    Case(
        name="delete_unindexed",
        expect="DELETE ... WHERE created_at < $1 on unindexed created_at: whole-table read; the "
        "trial index on (created_at) serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="DELETE FROM items WHERE items.created_at < $1",
        parameters=("2024-01-01 05:00+00",),
        trial_indexes=("CREATE INDEX ix_items_created_at ON items (created_at)",),
    ),
    Case(
        name="delete_parent_unindexed_fk",
        expect="DELETE FROM users WHERE id = $1 is served by the primary key; the foreign key "
        "check on unindexed items.user_id does not show in EXPLAIN (a schema check's job)",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="DELETE FROM users WHERE users.id = $1",
        parameters=(99,),
    ),
    Case(
        name="insert_select_filtered",
        expect="INSERT ... SELECT ... WHERE user_id = $1 on unindexed items.user_id: whole-table "
        "read of items under the Insert; the trial index on (user_id) serves it",
        schema=SHOP + "CREATE TABLE item_archive (id integer PRIMARY KEY, title text NOT NULL);",
        seed=SHOP_SEED,
        statement="INSERT INTO item_archive (id, title) "
        "SELECT items.id, items.title FROM items WHERE items.user_id = $1",
        parameters=(2,),
        trial_indexes=("CREATE INDEX ix_items_user_id ON items (user_id)",),
    ),
    Case(
        name="insert_on_conflict",
        expect="INSERT ... ON CONFLICT (email) DO UPDATE: the arbiter index is the unique index "
        "on email; no table is read, no finding",
        schema=SHOP + "CREATE UNIQUE INDEX ux_users_email ON users (email);",
        seed=SHOP_SEED,
        statement="INSERT INTO users (id, email, name, status, created_at) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name",
        parameters=(100, "user3@example.com", "Renamed", "active", "2024-05-01 00:00+00"),
    ),
    Case(
        name="insert_values",
        expect="a plain INSERT ... VALUES: a Result under the ModifyTable, no table read; "
        "nothing to judge",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="INSERT INTO items (id, user_id, title, price, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        parameters=(1000, 1, "new item", 9.5, "2024-05-01 00:00+00"),
    ),
    # 15. Reports: whole-table reads by design.
    Case(
        name="aggregate_report",
        expect="count of items per user status, no filter: whole-table reads by design; never "
        "a finding",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT users.status, count(items.id) AS items FROM users "
        "JOIN items ON items.user_id = users.id GROUP BY users.status ORDER BY users.status",
    ),
    Case(
        name="count_whole_table",
        expect="count(*) of a table: a whole-table read by design; no finding",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT count(*) FROM items",
    ),
    # 16. joinedload.
    Case(
        name="left_join_joinedload",
        expect="joinedload's LEFT OUTER JOIN to users AS users_1, items by primary key: served "
        "on both sides; no finding",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT items.id, items.title, users_1.id AS id_1, users_1.email FROM items "
        "LEFT OUTER JOIN users AS users_1 ON users_1.id = items.user_id WHERE items.id = $1",
        parameters=(4,),
    ),
    Case(
        name="left_join_unindexed_child",
        expect="users LEFT JOIN items on unindexed items.user_id for one user: items read "
        "whole (join condition); the trial index on (user_id) serves it",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id, items.id AS item_id FROM users "
        "LEFT OUTER JOIN items ON items.user_id = users.id WHERE users.id = $1",
        parameters=(4,),
        trial_indexes=("CREATE INDEX ix_items_user_id ON items (user_id)",),
    ),
    # 17. Expressions a plain index does not serve.
    Case(
        name="lower_expression",
        expect="lower(email) = $1 with an index on email: not served (whole-table read); the "
        "trial expression index ((lower(email))) serves it",
        schema=SHOP + "CREATE INDEX ix_users_email ON users (email);",
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE lower(users.email) = $1",
        parameters=("user3@example.com",),
        trial_indexes=("CREATE INDEX ix_users_lower_email ON users ((lower(email)))",),
    ),
    Case(
        name="cast_defeats_index",
        expect="items.user_id = $1::numeric casts the column ((user_id)::numeric = $1): the "
        "user_id index is not used; the fix is the parameter's type, not an index",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT items.id FROM items WHERE items.user_id = $1::numeric",
        parameters=(2,),
    ),
    Case(
        name="jsonb_containment",
        expect="attributes @> $1 on jsonb: a B-tree cannot serve @> (candidate must not be "
        "a plain index); the trial GIN index serves it",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.attributes @> $1::jsonb",
        parameters=('{"lang": "fr"}',),
        trial_indexes=("CREATE INDEX ix_posts_attributes ON posts USING gin (attributes)",),
    ),
    # 18. LIKE.
    Case(
        name="like_parameter",
        expect="title LIKE $1 with an index on title: the generic plan cannot use it (the "
        "pattern is unknown at plan time); whole-table read",
        schema=SHOP + "CREATE INDEX ix_items_title ON items (title);",
        seed=SHOP_SEED,
        statement="SELECT items.id FROM items WHERE items.title LIKE $1",
        parameters=("item 1%",),
        trial_indexes=("CREATE INDEX ix_items_title_pattern ON items (title text_pattern_ops)",),
    ),
    Case(
        name="like_prefix_literal",
        expect="title LIKE 'item 1%' with a plain index on title in a C.UTF-8 database: not "
        "served (the collation is not C); the trial text_pattern_ops index serves the prefix",
        schema=SHOP + "CREATE INDEX ix_items_title ON items (title);",
        seed=SHOP_SEED,
        statement="SELECT items.id FROM items WHERE items.title LIKE 'item 1%'",
        trial_indexes=("CREATE INDEX ix_items_title_pattern ON items (title text_pattern_ops)",),
    ),
    Case(
        name="like_contains",
        expect="title LIKE '%4%' (no prefix): no B-tree serves it; whole-table read, no "
        "candidate (a trigram index would be the fix)",
        schema=SHOP + "CREATE INDEX ix_items_title ON items (title);",
        seed=SHOP_SEED,
        statement="SELECT items.id FROM items WHERE items.title LIKE '%4%'",
    ),
    # 19. Semi and anti joins, GROUP BY ... HAVING.
    Case(
        name="anti_join_unindexed",
        expect="NOT EXISTS on unindexed comments.post_id: an anti join reading comments whole "
        "(join condition); the trial index on (post_id) serves it",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE NOT EXISTS (SELECT 1 FROM comments "
        "WHERE comments.post_id = posts.id) AND posts.author_id = $1",
        parameters=(3,),
        trial_indexes=(
            "CREATE INDEX ix_comments_post_id ON comments (post_id)",
            "CREATE INDEX ix_posts_author_id ON posts (author_id)",
        ),
    ),
    Case(
        name="semi_join_indexed",
        expect="EXISTS on indexed comments.post_id for one author's posts: served on both sides "
        "once posts.author_id is indexed too; no finding",
        schema=BLOG
        + "CREATE INDEX ix_comments_post_id ON comments (post_id);"
        + "CREATE INDEX ix_posts_author_id ON posts (author_id);",
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE EXISTS (SELECT 1 FROM comments "
        "WHERE comments.post_id = posts.id) AND posts.author_id = $1",
        parameters=(3,),
    ),
    Case(
        name="group_by_having",
        expect="GROUP BY user_id HAVING count(*) > $1: a whole walk of the user_id index feeding "
        "a GroupAggregate (the HAVING is a Filter on the groups, not on the table); by design, "
        "no finding",
        schema=SHOP + "CREATE INDEX ix_items_user_id ON items (user_id);",
        seed=SHOP_SEED,
        statement="SELECT items.user_id, count(*) FROM items GROUP BY items.user_id "
        "HAVING count(*) > $1",
        parameters=(2,),
    ),
    # More shapes a reviewer will meet.
    Case(
        name="queue_skip_locked",
        expect="the job-queue pop (state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED): "
        "a primary-key walk with state in a Filter; finding on jobs, the partial trial index "
        "serves it",
        schema=JOBS,
        seed=JOBS_SEED,
        statement="SELECT jobs.id, jobs.payload FROM jobs WHERE jobs.state = 'queued' "
        "AND jobs.queue = $1 ORDER BY jobs.id LIMIT 1 FOR UPDATE SKIP LOCKED",
        parameters=("mail",),
        rows=30,
        trial_indexes=("CREATE INDEX ix_jobs_queued ON jobs (queue, id) WHERE state = 'queued'",),
    ),
    Case(
        name="not_in_subquery",
        expect="NOT IN (SELECT ...) cannot become an anti join (NULL semantics): users read "
        "whole with Filter NOT (hashed SubPlan 1), which no index serves (no candidate); inside "
        "the SubPlan items read whole on unindexed title, which the trial index serves",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT users.id FROM users WHERE users.id NOT IN "
        "(SELECT items.user_id FROM items WHERE items.title = $1)",
        parameters=("item 4",),
        trial_indexes=("CREATE INDEX ix_items_title ON items (title)",),
    ),
    Case(
        name="update_from_join",
        expect="UPDATE items ... FROM users WHERE users.status = $1 (a join in an UPDATE): items "
        "read whole with no condition of its own, users probed by primary key with status in "
        "a Filter; the gaps are users.status and items.user_id, the two trial indexes serve them",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="UPDATE items SET price = items.price * 2 FROM users "
        "WHERE users.id = items.user_id AND users.status = $1",
        parameters=("banned",),
        trial_indexes=(
            "CREATE INDEX ix_users_status ON users (status)",
            "CREATE INDEX ix_items_user_id ON items (user_id)",
        ),
    ),
    Case(
        name="union_all_or_rewrite",
        expect="the UNION ALL rewrite of an OR (status = $1, then title = $2): an Append of two "
        "scans, status served by its index, title read whole; finding on the title arm only",
        schema=BLOG + "CREATE INDEX ix_posts_status ON posts (status);",
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.status = $1 "
        "UNION ALL SELECT posts.id FROM posts WHERE posts.title = $2",
        parameters=("draft", "post 3"),
        trial_indexes=("CREATE INDEX ix_posts_title ON posts (title)",),
    ),
    Case(
        name="now_interval_range",
        expect="created_at > now() - $1::interval on unindexed created_at: whole-table read with "
        "a stable expression on the parameter side; the trial index on (created_at) serves it",
        schema=BLOG,
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.created_at > now() - $1::interval",
        parameters=("7 days",),
        trial_indexes=("CREATE INDEX ix_posts_created_at ON posts (created_at)",),
    ),
    Case(
        name="window_report",
        expect="row_number() per author over every post (a WindowAgg over a sorted whole read): "
        "a report by design, no finding",
        schema=BLOG + "CREATE INDEX ix_posts_author_id ON posts (author_id);",
        seed=BLOG_SEED,
        statement="SELECT posts.id, row_number() OVER (PARTITION BY posts.author_id "
        "ORDER BY posts.created_at) AS rank FROM posts",
    ),
    Case(
        name="offset_pagination",
        expect="ORDER BY id LIMIT 20 OFFSET $1: a primary-key walk that reads the skipped rows "
        "(no filter); no whole-table finding",
        schema=SHOP,
        seed=SHOP_SEED,
        statement="SELECT items.id, items.title FROM items ORDER BY items.id LIMIT 20 OFFSET $1",
        parameters=(10,),
    ),
    Case(
        name="two_candidate_indexes",
        expect="author_id = $1 AND status = $2 with single-column indexes on both: served by "
        "one of them (or a BitmapAnd), the other in a Filter; no finding (which index is "
        "chosen follows the statistics)",
        schema=BLOG
        + "CREATE INDEX ix_posts_author_id ON posts (author_id);"
        + "CREATE INDEX ix_posts_status ON posts (status);",
        seed=BLOG_SEED,
        statement="SELECT posts.id FROM posts WHERE posts.author_id = $1 AND posts.status = $2",
        parameters=(3, "draft"),
    ),
    Case(
        name="covering_index",
        expect="email = $1 selecting only email and name with an index on (email) INCLUDE "
        "(name): the as_is plan may use an Index Only Scan; the indexed profile shows an "
        "Index Scan; no finding",
        schema=SHOP + "CREATE INDEX ix_users_email_name ON users (email) INCLUDE (name);",
        seed=SHOP_SEED,
        statement="SELECT users.email, users.name FROM users WHERE users.email = $1",
        parameters=("user3@example.com",),
    ),
)
