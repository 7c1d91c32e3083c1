"""Flask-SQLAlchemy 3: ``db.session`` in views, requests through Flask's test client. An N+1 in a
view is found and names the view's line (Flask and Werkzeug frames are skipped)."""

from __future__ import annotations

import pytest

WEBAPP = """
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Author(db.Model):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    books: Mapped[list["Book"]] = relationship(back_populates="author", order_by="Book.id")


class Book(db.Model):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[Author] = relationship(back_populates="books")


def create_app(url):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)

    @app.get("/authors")
    def authors():
        listing = []
        for author in db.session.scalars(select(Author).order_by(Author.id)):
            listing.append({"name": author.name, "books": [book.title for book in author.books]})
        return jsonify(listing)

    @app.get("/authors/eager")
    def authors_eager():
        query = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        listing = []
        for author in db.session.scalars(query):
            listing.append({"name": author.name, "books": [book.title for book in author.books]})
        return jsonify(listing)

    @app.get("/authors/<int:author_id>")
    def author(author_id):
        author = db.get_or_404(Author, author_id)
        return jsonify({"name": author.name, "books": [book.title for book in author.books]})

    return app
"""

CONFTEST = """
import os

import pytest

from webapp import Author, Book, create_app, db


@pytest.fixture
def app():
    app = create_app(os.environ["DBGUARD_INNER_URL"])
    with app.app_context():
        db.drop_all()
        db.create_all()
        for number in range(1, 5):
            author = Author(id=number, name=f"author {number}")
            author.books = [Book(title=f"book {number}.{n}") for n in range(3)]
            db.session.add(author)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()
"""


@pytest.mark.usefixtures("pg_db")
def test_an_nplusone_in_a_view_names_the_view_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(webapp=WEBAPP, conftest=CONFTEST)
    pytester.makepyfile(
        test_views="""
        import pytest

        def test_authors(client):
            response = client.get("/authors")
            assert response.status_code == 200
            assert len(response.json) == 4

        @pytest.mark.num_queries(2)
        def test_authors_eager(client):
            response = client.get("/authors/eager")
            assert [len(author["books"]) for author in response.json] == [3, 3, 3, 3]

        @pytest.mark.max_queries(1)
        def test_one_author_over_budget(client):
            assert client.get("/authors/1").status_code == 200
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: Author.books was lazy-loaded for 4 Author objects, one query each",
            "*at webapp.py:38 in create_app.authors",
            "*4x SELECT ... FROM books WHERE *books.author_id*",
            "*select(Author).options(selectinload(Author.books))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Expected at most 1 query, 2 were run*",
            "*SELECT ... FROM authors WHERE authors.id = ?*",
            "*at webapp.py:51 in create_app.author",
            "*SELECT ... FROM books WHERE *books.author_id*",
            "*at webapp.py:52 in create_app.author",
        ]
    )


@pytest.mark.usefixtures("pg_db")
def test_two_requests_that_each_load_one_author_are_not_an_nplusone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(webapp=WEBAPP, conftest=CONFTEST)
    pytester.makepyfile(
        test_views="""
        def test_two_authors(client):
            assert client.get("/authors/1").status_code == 200
            assert client.get("/authors/2").status_code == 200

        def test_requests_in_a_loop(client):
            # db.get_or_404 runs one SELECT per request: four runs from one line, in four units
            for _ in range(2):
                assert client.get("/authors/1").status_code == 200
                assert client.get("/authors/2").status_code == 200

        def test_marked_unit_spanning_requests(client, dbguard):
            # the user says these requests are one unit: the view's lookups are then an N+1
            with dbguard.unit_of_work():
                for author_id in (1, 2, 3):
                    assert client.get(f"/authors/{author_id}").status_code == 200
        """
    )
    # each request is its own Session (Flask-SQLAlchemy removes it at teardown): one lazy load
    # per unit of work is no N+1, however many requests a test makes
    result = pytester.runpytest("-W", "error::pytest_dbguard.DBGuardWarning")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_marked_unit_spanning_requests _*",
            "N+1 query: Author.books was lazy-loaded for 3 Author objects, one query each",
            "  at webapp.py:52 in create_app.author*",
        ]
    )
