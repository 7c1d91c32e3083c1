"""Rows a production database of the research app holds, for the migration checks.

pytest-dbguard fills every empty table with rows of its own before each revision; this
function (``dbguard_migrations_seed``, see conftest.py) runs first and gives the research
app's tables realistic rows instead: statuses the review constraint of revision 0007 accepts,
prompts without a model (revision 0006 fills them in), model names in mixed case (revision
0010 lowers them). It runs before every revision, and fills the tables once, before 0002:
the rows then live through the history, as they would in production.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

USERS = [
    (1, "ada@insurer.example", "Ada", "claims"),
    (2, "grace@insurer.example", "Grace", "underwriting"),
    (3, "alan@insurer.example", "Alan", "pricing"),
]
ITEMS = [  # id, owner, title, status, line of business
    (1, 1, "Hail damage claims in Texas, 2023", "published", "property"),
    (2, 1, "Windshield claims after road salt", "in_review", "auto"),
    (3, 2, "Flood exclusions in homeowner policies", "in_review", "property"),
    (4, 3, "Young driver surcharge benchmarks", "draft", "auto"),
]
MODELS = ["GPT-4o", "Claude-Sonnet", None]  # None: prompts from before models were recorded


def seed(connection: Connection, revision: str) -> None:
    """Called with the revision about to be upgraded; the tables of revision 0001 exist."""
    if revision != "0002":
        return
    connection.execute(
        text("INSERT INTO users (id, email, name, team) VALUES (:id, :email, :name, :team)"),
        [dict(zip(("id", "email", "name", "team"), user, strict=True)) for user in USERS],
    )
    connection.execute(
        text(
            "INSERT INTO research_items (id, owner_id, title, status, line_of_business, notes)"
            " VALUES (:id, :owner, :title, :status, :lob, 'see the prompts')"
        ),
        [dict(zip(("id", "owner", "title", "status", "lob"), item, strict=True)) for item in ITEMS],
    )
    connection.execute(
        text("INSERT INTO prompts (research_item_id, text, model) VALUES (:item, :text, :model)"),
        [
            {"item": item[0], "text": f"Summarise: {item[2]} (#{n})", "model": MODELS[n]}
            for item in ITEMS
            for n in range(len(MODELS))
        ],
    )
