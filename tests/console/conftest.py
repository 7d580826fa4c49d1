"""Fixtures of the console tests: per test module, a throwaway cluster prepared like a Supabase
database (API roles, then CREATE EXTENSION mcp_jobs), PostgREST 12.0.2 behind nginx, and the built
console under `next start` pointed at it with a minted service_role key."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tests/: pgharness
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))  # e2e_stack

from console_stack import ConsoleServer, ensure_built
from e2e_stack import (
    SUPABASE_DEFAULT_PRIVILEGES_SQL,
    SUPABASE_ROLES_SQL,
    Stack,
    mint_jwt,
)
from pgharness import Cluster

DB = "console"
OUT = os.path.join(HERE, "out")


@dataclass
class Supa:
    cluster: Cluster
    stack: Stack
    key: str

    def connect(self) -> psycopg.Connection:
        conn: psycopg.Connection = self.cluster.connect(dbname=DB)
        return conn

    def env(self, **extra: str) -> dict[str, str]:
        return {"SUPABASE_URL": self.stack.url, "SUPABASE_SERVICE_ROLE_KEY": self.key, **extra}


@pytest.fixture(scope="session")
def console_built() -> None:
    ensure_built()


def start_supa(settings: dict[str, str] | None = None, conf: dict[str, str] | None = None) -> Iterator[Supa]:
    """A cluster (server settings `conf`) with database `console` (its settings `settings`), Supabase's
    roles and mcp_jobs, and PostgREST behind nginx over it."""
    c = Cluster(conf=conf, name="mcp_jobs_console").start()
    try:
        c.psql(SUPABASE_ROLES_SQL)
        c.psql(f"CREATE DATABASE {DB};")
        for k, v in (settings or {}).items():
            c.psql(f"ALTER DATABASE {DB} SET {k} = '{v}';")
        c.psql(SUPABASE_DEFAULT_PRIVILEGES_SQL, dbname=DB)
        c.psql("CREATE EXTENSION mcp_jobs;", dbname=DB)
        with Stack(c, DB) as s:
            yield Supa(cluster=c, stack=s, key=mint_jwt("service_role", ttl=6 * 3600))
    finally:
        c.destroy()


@pytest.fixture
def db(supa: Supa) -> Iterator[psycopg.Connection]:
    conn = supa.connect()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def out_dir() -> str:
    os.makedirs(OUT, exist_ok=True)
    return OUT


def console(env: dict[str, str]) -> Iterator[ConsoleServer]:
    with ConsoleServer(env) as server:
        yield server
