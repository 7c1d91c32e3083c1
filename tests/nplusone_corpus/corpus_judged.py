"""What the corpus's ``judge`` fixture returns."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dbguard.findings import Finding


@dataclass
class Judged:
    """The N+1 and duplicate findings of one scenario."""

    nplusone: list[Finding]
    duplicates: list[Finding]

    @property
    def all(self) -> list[Finding]:
        return self.nplusone + self.duplicates

    def text(self) -> str:
        return "\n\n".join(finding.message for finding in self.all)
