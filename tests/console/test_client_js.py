"""The client package (clients/js, `mcp-jobs`) against a real stack: its node:test suite
(clients/js/test/) runs against PostgREST 12.0.2 behind nginx over a cluster whose maintenance
worker aggregates metrics every second."""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest
from conftest import Supa, start_supa
from console_stack import CLIENT_DIR
from e2e_stack import mint_jwt


@pytest.fixture(scope="module")
def supa(console_built: None) -> Iterator[Supa]:
    yield from start_supa(conf={"shared_preload_libraries": "'mcp_jobs'", "mcp_jobs.database": "'console'",
                                "mcp_jobs.maintenance_interval": "'1s'"})


def test_client_suite(supa: Supa) -> None:
    env = {**os.environ, "MCP_JOBS_TEST_URL": supa.stack.url, "MCP_JOBS_TEST_KEY": supa.key,
           "MCP_JOBS_TEST_WRONG_KEY": mint_jwt("service_role", secret="not-the-secret-of-this-postgrest-0123456789")}
    env.pop("SUPABASE_URL", None)
    env.pop("SUPABASE_SERVICE_ROLE_KEY", None)
    p = subprocess.run(["node", "--test", "--test-reporter=spec", "test/"], cwd=CLIENT_DIR, env=env, capture_output=True,
                       text=True, timeout=300, check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    m = re.search(r"ℹ pass (\d+)", out)
    assert m and int(m.group(1)) >= 10, out
    assert re.search(r"ℹ fail 0", out), out
