"""capture: SQLAlchemy listeners that record each statement of a test (its text, shape, kind,
call site, ORM lazy-load origin) into the test's record. No database work, no judgement."""
