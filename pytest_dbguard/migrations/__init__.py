"""Migration checks for Alembic: every revision upgraded, downgraded and upgraded again on a
fresh PostgreSQL database holding rows, with what each statement locked and rewrote.

For the reports: ``migration_findings_as_data(config)`` (plain data) and
``markdown_section(data)`` (the "Migration safety" section).
"""

from __future__ import annotations

from .report import markdown_section, migration_findings_as_data
from .rules import MigrationFinding
from .session import DBGuardMigrations

__all__ = [
    "DBGuardMigrations",
    "MigrationFinding",
    "markdown_section",
    "migration_findings_as_data",
]
