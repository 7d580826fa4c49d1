"""Fixtures of the end-to-end tests: a cluster prepared like a Supabase database (API roles and
default privileges created BEFORE `CREATE EXTENSION mcp_jobs`), PostgREST 12.0.2 and nginx in front.
"""
import os
import sys
import uuid

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.dirname(HERE))  # tests/: pgharness
sys.path.insert(0, HERE)  # tests/e2e: e2e_stack

from e2e_stack import (
    SUPABASE_DEFAULT_PRIVILEGES_SQL,
    SUPABASE_ROLES_SQL,
    Api,
    Stack,
    mint_jwt,
)
from pgharness import Cluster

DB = "supa"


@pytest.fixture(scope="session")
def supa_cluster():
    """A cluster with Supabase's roles, and database `supa` where mcp_jobs was created after them."""
    c = Cluster(name="mcp_jobs_e2e").start()
    try:
        c.psql(SUPABASE_ROLES_SQL)
        c.psql(f"CREATE DATABASE {DB};")
        c.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname=DB)
        c.psql("CREATE EXTENSION mcp_jobs;", dbname=DB)
        yield c
    finally:
        c.destroy()


@pytest.fixture(scope="session")
def stack(supa_cluster):
    """PostgREST (db-schemas "public, mcp_jobs", anon role anon) behind nginx's /rest/v1/."""
    with Stack(supa_cluster, DB) as s:
        yield s


@pytest.fixture(scope="session")
def service_key():
    return mint_jwt("service_role")


@pytest.fixture
def supabase_env(stack, service_key, monkeypatch):
    """The environment the MCP Jobs design's clients read."""
    monkeypatch.setenv("SUPABASE_URL", stack.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", service_key)
    return {"SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": service_key}


@pytest.fixture
def db(supa_cluster):
    conn = supa_cluster.connect(dbname=DB)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def source():
    """A source name of this test only, so that tests sharing the database do not see each other's jobs."""
    return "e2e-" + uuid.uuid4().hex[:12]


@pytest.fixture
def api(stack):
    return Api(stack.rest)
