"""SQLite and MySQL (pymysql): the plugin counts statements there and EXPLAINs nothing; the
ORM basics must run exactly as without it."""

from sqlalchemy import ForeignKey, String, func, select, text
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

SAFETY = {
    "drivers": ["sqlite", "mysql", "psycopg"],
    "seed": {
        "sqlite": """
            CREATE TABLE authors (id integer PRIMARY KEY, name varchar(50) NOT NULL);
            CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES authors (id), title varchar(50) NOT NULL);
            CREATE INDEX ix_books_author_id ON books (author_id);
        """,
        "mysql": """
            CREATE TABLE authors (id integer PRIMARY KEY AUTO_INCREMENT, name varchar(50) NOT NULL);
            CREATE TABLE books (id integer PRIMARY KEY AUTO_INCREMENT, author_id integer NOT NULL, title varchar(50) NOT NULL,
                                FOREIGN KEY (author_id) REFERENCES authors (id));
        """,
        "postgresql": """
            CREATE TABLE authors (id serial PRIMARY KEY, name varchar(50) NOT NULL);
            CREATE TABLE books (id serial PRIMARY KEY, author_id integer NOT NULL REFERENCES authors (id), title varchar(50) NOT NULL);
            CREATE INDEX ix_books_author_id ON books (author_id);
        """,
    },
}


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list["Book"]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    title: Mapped[str] = mapped_column(String(50))
    author: Mapped[Author] = relationship(back_populates="books")


def test_orm_round_trip(db, observe):
    if db.is_async:
        return
    engine = db.engine().engine
    with Session(engine) as session:
        session.add_all(
            [
                Author(name="ann", books=[Book(title="a1"), Book(title="a2")]),
                Author(name="bob", books=[Book(title="b1")]),
            ]
        )
        session.commit()
    with Session(engine) as session:
        authors = session.scalars(
            select(Author).options(selectinload(Author.books)).order_by(Author.id)
        ).all()
        shape = [(author.name, [book.title for book in author.books]) for author in authors]
        count = session.scalar(select(func.count()).select_from(Book))
        session.execute(text("UPDATE books SET title = 'changed' WHERE id = 1"))
        session.rollback()
    observe("shape", [shape, count])


def test_rollback_and_autocommit(db, observe):
    def run(conn):
        conn.execute(text("INSERT INTO authors (name) VALUES ('temp')"))
        conn.rollback()
        return conn.execute(text("SELECT count(*) FROM authors")).scalar()

    observe("after rollback", db.connect(run))
