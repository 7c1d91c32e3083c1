"""One test that inserts ROWS rows, each with a parameter of PARAMETER_BYTES bytes."""

import bench_settings
from bench_app import BLOBS
from sqlalchemy import Connection, insert


def test_large_parameters(conn: Connection) -> None:
    statement = insert(BLOBS)
    for i in range(bench_settings.ROWS):
        # a new object for every row: a plugin that kept the parameters would keep them all
        data = bytes([i % 256]) * bench_settings.PARAMETER_BYTES
        conn.execute(statement, {"id": i, "data": data})
