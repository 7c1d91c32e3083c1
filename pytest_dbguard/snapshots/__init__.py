"""snapshots: golden plan files beside the tests — where they live, their text, the comparison
with a test's plans, and the writes queued to the end of the session."""
