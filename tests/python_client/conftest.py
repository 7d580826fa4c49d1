"""Fixtures of the Python client tests: a cluster prepared like a Supabase database (API roles and
default privileges before `CREATE EXTENSION mcp_jobs`), PostgREST 12.0.2 behind nginx, and a
service_role key. The client under test is the installed `mcp_jobs` package (clients/python).
"""

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)  # pgharness
sys.path.insert(0, os.path.join(TESTS, "e2e"))  # e2e_stack
sys.path.insert(0, HERE)  # pyclient_helpers

from mcp_jobs import Client  # noqa: E402

from e2e_stack import SUPABASE_DEFAULT_PRIVILEGES_SQL, SUPABASE_ROLES_SQL, Stack, mint_jwt  # noqa: E402
from pgharness import Cluster  # noqa: E402
from pyclient_helpers import DB, RETRY_BASE_DELAY_MS, Db  # noqa: E402


@pytest.fixture(scope="session")
def pyc_cluster() -> Iterator[Cluster]:
    c = Cluster(name="mcp_jobs_pyclient").start()
    try:
        c.psql(SUPABASE_ROLES_SQL)
        c.psql(f"CREATE DATABASE {DB};")
        c.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname=DB)
        c.psql("CREATE EXTENSION mcp_jobs;", dbname=DB)
        c.psql(f"ALTER DATABASE {DB} SET mcp_jobs.retry_base_delay = '{RETRY_BASE_DELAY_MS}ms';")
        yield c
    finally:
        c.destroy()


@pytest.fixture(scope="session")
def pyc_stack(pyc_cluster: Cluster) -> Iterator[Stack]:
    with Stack(pyc_cluster, DB) as s:
        yield s


@pytest.fixture(scope="session")
def url(pyc_stack: Stack) -> str:
    """What a client is given as SUPABASE_URL."""
    return pyc_stack.url


@pytest.fixture(scope="session")
def key() -> str:
    """A service_role key."""
    return mint_jwt("service_role")


@pytest.fixture
def client(url: str, key: str) -> Iterator[Client]:
    with Client(url, key, timeout=30) as c:
        yield c


@pytest.fixture
def db(pyc_cluster: Cluster) -> Iterator[Db]:
    conn = pyc_cluster.connect(dbname=DB)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def source() -> str:
    """A source of this test only: tests share the database, workers filter on their source."""
    return "py-" + uuid.uuid4().hex[:12]
