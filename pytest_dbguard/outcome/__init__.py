"""outcome: one test's examinations and findings, the failure or warnings they give, and the
plain payload that travels to the pytest-xdist controller."""
