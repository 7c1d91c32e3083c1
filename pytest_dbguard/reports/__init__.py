"""reports: the terminal summary, Markdown, JSON, SARIF and the GitHub step summary, built from
the tests' payloads (the same whether the tests ran here or in pytest-xdist workers)."""
