"""Over every plugin's budget: fails when a plugin is active and enforces its marker."""

import pytest
from bench_app import SHOPS
from sqlalchemy.orm import Session

shop = SHOPS[0]


@pytest.mark.max_queries(1)
@pytest.mark.queryspy(max_queries=1)
def test_over_budget(session: Session) -> None:
    shop.find_customer(session, 1)
    shop.find_customer(session, 2)
    shop.find_customer(session, 3)
