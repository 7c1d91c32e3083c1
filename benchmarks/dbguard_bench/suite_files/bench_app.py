"""The application the generated suites test: a small shop, one copy per test module.

Each test module tests its own copy of the shop (``SHOPS[n]``), with tables of its own
(``m003_customer``, ``m003_purchase``, ...): the statement texts differ from one module to the
next, as they differ between the parts of a real application, so a cache keyed by statement
text does not make later modules free.

Every table is indexed for the queries below except ``mNNN_event.action``: the filter of
``Shop.events_by_action`` reads the whole event table whatever the indexes, a finding that the
suites accept with ``dbguard_allow_seqscan`` (the one accepted finding of every test).

This file is copied into each generated suite; ``bench_settings`` is written beside it.
"""

from typing import Any

import bench_settings
from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

METADATA = MetaData()
PRODUCTS = 20
ACTIONS = ("login", "checkout", "refund", "review")


# The memory suite's table: rows with a large binary parameter
BLOBS = Table(
    "bench_blob",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


class Shop:
    """One module's models, its Core statements, and the functions its tests call."""

    def __init__(self, number: int, customers: int) -> None:
        prefix = f"m{number:03d}"
        self.customers = customers

        class Base(DeclarativeBase):  # a registry per shop: class names repeat across shops
            metadata = METADATA

        class Customer(Base):
            __tablename__ = f"{prefix}_customer"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(String(100), unique=True)
            name: Mapped[str] = mapped_column(String(50))
            purchases: Mapped[list["Purchase"]] = relationship(
                back_populates="customer", order_by="Purchase.id"
            )

        class Purchase(Base):
            __tablename__ = f"{prefix}_purchase"
            id: Mapped[int] = mapped_column(primary_key=True)
            customer_id: Mapped[int] = mapped_column(ForeignKey(Customer.id), index=True)
            total: Mapped[int]
            customer: Mapped[Customer] = relationship(back_populates="purchases")
            lines: Mapped[list["Line"]] = relationship(order_by="Line.id")

        class Product(Base):
            __tablename__ = f"{prefix}_product"
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(String(50))

        class Line(Base):
            __tablename__ = f"{prefix}_line"
            id: Mapped[int] = mapped_column(primary_key=True)
            purchase_id: Mapped[int] = mapped_column(ForeignKey(Purchase.id), index=True)
            product_id: Mapped[int] = mapped_column(ForeignKey(Product.id), index=True)
            quantity: Mapped[int]
            product: Mapped[Product] = relationship()

        class Event(Base):
            __tablename__ = f"{prefix}_event"
            id: Mapped[int] = mapped_column(primary_key=True)
            customer_id: Mapped[int] = mapped_column(ForeignKey(Customer.id), index=True)
            action: Mapped[str] = mapped_column(String(20))  # no index: the accepted finding

        self.Customer, self.Purchase, self.Product = Customer, Purchase, Product
        self.Line, self.Event = Line, Event

        # Core statements (the capture suite), one bound parameter each
        customer, purchase = Customer.__table__, Purchase.__table__
        self.get_customer = select(customer.c.id, customer.c.name).where(
            customer.c.id == bindparam("id")
        )
        self.customer_purchases = (
            select(customer.c.name, purchase.c.id, purchase.c.total)
            .join_from(customer, purchase)
            .where(customer.c.id == bindparam("id"))
        )
        self.count_purchases = (
            select(func.count())
            .select_from(purchase)
            .where(purchase.c.customer_id == bindparam("id"))
        )
        self.add_purchase = insert(purchase)
        self.rename = (
            update(customer)
            .where(customer.c.id == bindparam("cid"))
            .values(name=bindparam("new_name"))
        )

    # -- the application's functions (ORM), each a few statements -----------------------------
    # ``n`` picks the rows: a test passes a different n to every call, so no call repeats
    # another's parameters.

    def customer_id(self, n: int) -> int:
        return n % self.customers + 1

    def find_customer(self, session: Session, n: int) -> Any:
        """1 statement: a primary-key lookup."""
        return session.get(self.Customer, self.customer_id(n))

    def customer_by_email(self, session: Session, n: int) -> Any:
        """1 statement: a lookup by a unique column."""
        email = f"c{self.customer_id(n)}@example.com"
        return session.scalars(select(self.Customer).where(self.Customer.email == email)).one()

    def purchases_with_lines(self, session: Session, n: int) -> int:
        """2 statements: a customer's purchases, their lines by selectinload."""
        query = (
            select(self.Purchase)
            .where(self.Purchase.customer_id == self.customer_id(n))
            .options(selectinload(self.Purchase.lines))
        )
        return sum(len(purchase.lines) for purchase in session.scalars(query))

    def purchase_with_customer(self, session: Session, n: int) -> str:
        """1 statement: a purchase and its customer by joinedload."""
        query = (
            select(self.Purchase)
            .options(joinedload(self.Purchase.customer))
            .where(self.Purchase.id == self.customer_id(n) * 2)
        )
        return str(session.scalars(query).one().customer.name)

    def lazy_purchases(self, session: Session, n: int) -> int:
        """2 statements: a customer, then its purchases by a lazy load (one parent: no N+1)."""
        customer = session.get(self.Customer, self.customer_id(n))
        return len(customer.purchases) if customer is not None else 0

    def place_order(self, session: Session, n: int) -> None:
        """2 statements: INSERT a purchase, then its line."""
        line = self.Line(product_id=n % PRODUCTS + 1, quantity=1)
        session.add(self.Purchase(customer_id=self.customer_id(n), total=n, lines=[line]))
        session.flush()

    def rename_customer(self, session: Session, n: int) -> None:
        """2 statements: a customer by email, then UPDATE its name."""
        email = f"c{self.customer_id(n)}@example.com"
        customer = session.scalars(select(self.Customer).where(self.Customer.email == email)).one()
        customer.name = f"renamed {n}"
        session.flush()

    def count_purchases_of(self, session: Session, n: int) -> int:
        """1 statement: an aggregate."""
        query = (
            select(func.count())
            .select_from(self.Purchase)
            .where(self.Purchase.customer_id == self.customer_id(n))
        )
        return int(session.scalar(query) or 0)

    def lines_of_product(self, session: Session, n: int) -> int:
        """1 statement: lines of a product with the product by joinedload (read: an eager load
        nothing reads would be a finding of its own)."""
        query = (
            select(self.Line)
            .options(joinedload(self.Line.product))
            .where(self.Line.product_id == n % PRODUCTS + 1)
        )
        return sum(1 for line in session.scalars(query).all() if line.product is not None)

    def events_by_action(self, session: Session, n: int) -> int:
        """1 statement: a filter no index serves (the accepted finding)."""
        query = select(self.Event).where(self.Event.action == ACTIONS[n % len(ACTIONS)])
        return len(session.scalars(query).all())

    # -- seed data ------------------------------------------------------------------------------

    def seed(self, connection: Connection) -> None:
        """Each customer has 2 purchases of 2 lines and 2 events (generated keys: the tests insert
        purchases and lines, which take the next ones)."""
        ids = range(1, self.customers + 1)
        tables = (self.Customer, self.Product, self.Purchase, self.Line, self.Event)
        customer, product, purchase, line, event = (t.__table__ for t in tables)  # type: ignore[attr-defined]
        connection.execute(
            insert(customer),
            [{"id": i, "email": f"c{i}@example.com", "name": f"c{i}"} for i in ids],
        )
        connection.execute(
            insert(product), [{"id": i, "title": f"p{i}"} for i in range(1, PRODUCTS + 1)]
        )
        purchases = [{"customer_id": i, "total": k} for i in ids for k in (0, 1)]
        returning = insert(purchase).returning(purchase.c.id, sort_by_parameter_order=True)
        purchase_ids = connection.execute(returning, purchases).scalars().all()
        connection.execute(
            insert(line),
            [
                {"purchase_id": p, "product_id": (p + k) % PRODUCTS + 1, "quantity": 1}
                for p in purchase_ids
                for k in (0, 1)
            ],
        )
        connection.execute(
            insert(event),
            [
                {"customer_id": i, "action": ACTIONS[(i + k) % len(ACTIONS)]}
                for i in ids
                for k in (0, 1)
            ],
        )


SHOPS = [Shop(number, bench_settings.CUSTOMERS) for number in range(bench_settings.MODULES)]
