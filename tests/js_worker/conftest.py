"""Fixtures of the TypeScript worker and MCP server tests: a cluster prepared like a Supabase database
(API roles and default privileges before `CREATE EXTENSION mcp_jobs`), PostgREST 12.0.2 behind nginx,
a service_role key, and clients/js built (dist/)."""

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)  # pgharness
sys.path.insert(0, os.path.join(TESTS, "e2e"))  # e2e_stack
sys.path.insert(0, HERE)  # jsworker_helpers

from e2e_stack import SUPABASE_DEFAULT_PRIVILEGES_SQL, SUPABASE_ROLES_SQL, Stack, mint_jwt  # noqa: E402
from jsworker_helpers import DB, RETRY_BASE_DELAY_MS, Db, ensure_client_built  # noqa: E402
from pgharness import Cluster  # noqa: E402


@pytest.fixture(scope="session")
def jsw_built() -> None:
    ensure_client_built()


@pytest.fixture(scope="session")
def jsw_cluster() -> Iterator[Cluster]:
    c = Cluster(name="mcp_jobs_jsworker").start()
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
def jsw_stack(jsw_cluster: Cluster, jsw_built: None) -> Iterator[Stack]:
    with Stack(jsw_cluster, DB) as s:
        yield s


@pytest.fixture(scope="session")
def url(jsw_stack: Stack) -> str:
    """What a worker is given as SUPABASE_URL."""
    return str(jsw_stack.url)


@pytest.fixture(scope="session")
def key() -> str:
    """A service_role key."""
    return str(mint_jwt("service_role"))


@pytest.fixture
def db(jsw_cluster: Cluster) -> Iterator[Db]:
    conn = jsw_cluster.connect(dbname=DB)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def source() -> str:
    """A source of this test only: tests share the database, workers filter on their source."""
    return "js-" + uuid.uuid4().hex[:12]
