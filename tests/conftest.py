import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from pgharness import Cluster


@pytest.fixture(scope="session")
def cluster():
    """One throwaway cluster for the whole session, with mcp_jobs created in database `postgres`."""
    c = Cluster().start()
    try:
        c.psql("CREATE EXTENSION mcp_jobs;")
        yield c
    finally:
        c.destroy()


@pytest.fixture
def db(cluster):
    """An autocommit psycopg connection to the session cluster."""
    conn = cluster.connect()
    try:
        yield conn
    finally:
        conn.close()
