"""ORM loading as an application does it, which the plugin watches for N+1, units of work and
unused eager loads: selectinload and joinedload (each relationship read), one lazy load,
Sessions beginning and committing, savepoints of the Session's own (begin_nested), and a
relationship attribute's class and value after the loads. Nothing the plugin watches may change
what the ORM loads, what the test sees, or the rows afterwards."""

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

SAFETY = {
    "seed": """
        CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL);
        CREATE TABLE books (
            id integer PRIMARY KEY,
            author_id integer NOT NULL REFERENCES authors (id),
            title text NOT NULL
        );
        CREATE INDEX ix_books_author_id ON books (author_id);
        INSERT INTO authors VALUES (1, 'ann'), (2, 'bob');
        INSERT INTO books VALUES (1, 1, 'a1'), (2, 1, 'a2'), (3, 2, 'b1');
    """,
}


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
    books: Mapped[list["Book"]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    title: Mapped[str] = mapped_column(String)
    author: Mapped[Author] = relationship(back_populates="books")


def test_eager_loads_that_are_read(db, observe):
    def run(conn):
        with Session(bind=conn) as session:
            authors = session.scalars(
                select(Author).options(selectinload(Author.books)).order_by(Author.id)
            ).all()
            shelves = {author.name: [book.title for book in author.books] for author in authors}
            book = session.scalars(
                select(Book).options(joinedload(Book.author)).where(Book.id == 3)
            ).one()
            return [
                shelves,
                book.author.name,
                type(Author.books).__name__,
                type(Book.author).__name__,
            ]

    observe("loaded", db.begin(run))


def test_one_lazy_load_and_a_session_savepoint(db, observe):
    def run(conn):
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            author = session.scalars(select(Author).where(Author.id == 1)).one()
            titles = [book.title for book in author.books]  # one lazy load: one parent
            with session.begin_nested():
                session.add(Book(id=4, author_id=1, title="a3"))
            nested = session.begin_nested()
            session.add(Book(id=5, author_id=2, title="b2"))
            session.flush()
            nested.rollback()
            session.commit()
            return [titles, sorted(session.scalars(select(Book.title)).all())]

    observe("loaded", db.begin(run))
    observe(
        "rows",
        db.connect(
            lambda conn: [
                tuple(row)
                for row in conn.exec_driver_sql(
                    "SELECT id, author_id, title FROM books ORDER BY id"
                )
            ]
        ),
    )


def test_sessions_that_commit_one_after_another(db, observe):
    def run(conn):
        names = []
        for author_id in (1, 2):
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                author = session.scalars(select(Author).where(Author.id == author_id)).one()
                names.append((author.name, len(author.books)))
                author.name = author.name.upper()
                session.commit()
        return names

    observe("names", db.begin(run))
    observe(
        "authors",
        db.connect(
            lambda conn: [
                tuple(row)
                for row in conn.exec_driver_sql("SELECT id, name FROM authors ORDER BY id")
            ]
        ),
    )
