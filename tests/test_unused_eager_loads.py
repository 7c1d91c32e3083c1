"""Unused eager loads: an eager loader option whose relationship the test never reads."""

from __future__ import annotations

import pytest

EAGER = """
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload, selectinload, subqueryload
from models import Item, User


def emails(session):
    return [user.email for user in session.scalars(select(User).options(selectinload(User.items)))]


def test_selectin_never_read(session):
    assert len(emails(session)) == 5


def test_joined_never_read(session):
    items = session.scalars(select(Item).options(joinedload(Item.owner))).all()
    assert items[0].title


def test_subquery_never_read(session):
    users = session.scalars(select(User).options(subqueryload(User.items))).all()
    assert users
"""


@pytest.mark.usefixtures("any_db")
def test_unused_eager_loads_are_warnings_naming_the_option_and_the_call_site(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(test_eager_unused=EAGER)
    result = app.runpytest("-W", "default")
    result.assert_outcomes(passed=3, warnings=3)
    result.stdout.fnmatch_lines(
        [
            "*DBGuardWarning: Unused eager load: User.items was loaded with "
            "selectinload(User.items) but never read",
            "*  at test_eager_unused.py:8 in emails",
            "*  the option costs an extra SELECT (WHERE ... IN the parents' keys) that nothing reads",
            "*Fix: remove selectinload(User.items) from that query,",
            "*  or read User.items where the loaded objects are used (this check: "
            "--dbguard-unused-eager-loads=fail|warn|off / ini dbguard_unused_eager_loads)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Unused eager load: Item.owner was loaded with joinedload(Item.owner) but never read",
            "*  at test_eager_unused.py:16 in test_joined_never_read",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*Unused eager load: User.items was loaded with subqueryload(User.items) but never read"]
    )


@pytest.mark.usefixtures("any_db")
def test_option_values_fail_warn_off(app: pytest.Pytester) -> None:
    app.makepyfile(test_eager_modes=EAGER)
    failed = app.runpytest("--dbguard-unused-eager-loads=fail")
    failed.assert_outcomes(failed=3)
    failed.stdout.fnmatch_lines(["*Unused eager load: User.items was loaded with*"])
    app.runpytest("--dbguard-unused-eager-loads=off").assert_outcomes(passed=3, warnings=0)
    app.runpytest("-o", "dbguard_unused_eager_loads=fail").assert_outcomes(failed=3)
    app.runpytest("-o", "dbguard_unused_eager_loads=off").assert_outcomes(passed=3, warnings=0)
    bad = app.runpytest("--dbguard-unused-eager-loads=maybe")
    bad.stderr.fnmatch_lines(
        [
            "*--dbguard-unused-eager-loads / ini dbguard_unused_eager_loads: 'maybe' is not "
            "one of fail, warn, off*"
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_read_later_serialized_or_empty_is_not_reported(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_eager_used="""
        import pydantic
        from sqlalchemy import inspect, select
        from sqlalchemy.orm import joinedload, selectinload
        from models import Item, User


        class ItemOut(pydantic.BaseModel):
            model_config = pydantic.ConfigDict(from_attributes=True)
            title: str


        class UserOut(pydantic.BaseModel):
            model_config = pydantic.ConfigDict(from_attributes=True)
            email: str
            items: list[ItemOut]


        def load(session):
            return session.scalars(select(User).options(selectinload(User.items))).all()


        def test_read_later_in_the_test(session):
            users = load(session)
            assert sum(len(user.items) for user in users) == 15


        def test_read_through_getattr(session):
            users = load(session)
            assert getattr(users[0], "items")


        def test_serialized_with_pydantic(session):
            payload = [UserOut.model_validate(user).model_dump() for user in load(session)]
            assert len(payload[0]["items"]) == 3


        def test_serialized_by_a_to_dict_helper(session):
            def to_dict(obj):
                mapper = inspect(obj).mapper
                return {key: getattr(obj, key) for key in mapper.attrs.keys()}

            assert to_dict(load(session)[0])["items"]


        def test_inspected_value(session):
            user = load(session)[0]
            assert inspect(user).attrs["items"].value


        def test_many_to_one_read(session):
            items = session.scalars(select(Item).options(joinedload(Item.owner))).all()
            assert items[0].owner.email


        def test_no_parent_rows(session):
            users = session.scalars(
                select(User).where(User.id < 0).options(selectinload(User.items))
            ).all()
            assert users == []


        def test_mapping_default_is_not_an_option(session):
            assert session.scalars(select(User)).first().email
        """
    )
    result = app.runpytest("--dbguard-unused-eager-loads=fail")
    result.assert_outcomes(passed=8)


@pytest.mark.usefixtures("any_db")
def test_a_read_before_the_query_does_not_count_for_it(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_eager_order="""
        from sqlalchemy import select
        from sqlalchemy.orm import Session, selectinload
        from models import User

        def test_read_then_reload(engine):
            with Session(engine) as first:
                first_user = first.scalars(select(User).options(selectinload(User.items))).first()
                assert first_user.items
            with Session(engine) as second:
                users = second.scalars(select(User).options(selectinload(User.items))).all()
                assert users
        """
    )
    result = app.runpytest("--dbguard-unused-eager-loads=fail")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Unused eager load: User.items*", "  at test_eager_order.py:10 in test_read_then_reload"]
    )


@pytest.mark.usefixtures("any_db")
def test_chained_option_names_the_chain(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_eager_chain="""
        from sqlalchemy import select
        from sqlalchemy.orm import joinedload, selectinload
        from models import User

        def test_chain(session):
            users = session.scalars(
                select(User).options(selectinload(User.items).joinedload(Item.owner))
            ).all()
            assert [item.title for user in users for item in user.items]

        from models import Item
        """
    )
    result = app.runpytest("--dbguard-unused-eager-loads=fail")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Unused eager load: Item.owner was loaded with joinedload(Item.owner) but never read",
            "*",
            "*",
            "Fix: remove joinedload(Item.owner) from that query's "
            "selectinload(User.items).joinedload(Item.owner),",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_descriptors_are_put_back_after_the_test(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_eager_restore="""
        from sqlalchemy import select
        from sqlalchemy.orm import InstrumentedAttribute, selectinload
        from models import User

        def test_a_load(session):
            session.scalars(select(User).options(selectinload(User.items))).all()
            assert type(User.items).__name__ == "InstrumentedAttribute"
            assert User.items.__doc__ is None or isinstance(User.items.__doc__, str)

        def test_b_after(session):
            assert type(User.items) is InstrumentedAttribute
        """
    )
    app.runpytest("-p", "no:randomly").assert_outcomes(passed=2, warnings=1)
