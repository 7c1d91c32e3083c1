"""probe: the only code that talks to the database for the plugin.

It EXPLAINs statements on the test's own connection inside a savepoint (or a transaction of its
own when the connection is idle), tries candidate indexes there, reads the catalog, and returns
what it saw. It judges nothing: the rules do.
"""
