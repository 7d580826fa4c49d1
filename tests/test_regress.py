"""SQL regression files: the API as a user calls it from psql (pgvector / pg_graphql style).

Each tests/regress/sql/NAME.sql runs through `psql -a` in a fresh database with the extension
created; the file opens a transaction and rolls it back itself. Its output (errors included) must
equal tests/regress/expected/NAME.out. Set MCP_JOBS_REGRESS_ACCEPT=1 to (re)write the expected
files, then review the diff before committing it.
"""
import difflib
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).parent / "regress"
FILES = sorted((HERE / "sql").glob("*.sql"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_regress(cluster, path):
    db = "regress_" + path.stem
    cluster.psql(f'DROP DATABASE IF EXISTS "{db}";')
    cluster.psql(f'CREATE DATABASE "{db}";')
    cluster.psql("CREATE EXTENSION mcp_jobs;", dbname=db)
    p = subprocess.run(
        [os.path.join(cluster.bindir, "psql"), "-X", "-a", "-q", "-v", "ON_ERROR_STOP=0",
         "-d", cluster.dsn(db), "-f", str(path)],
        text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
        env={**os.environ, "PGTZ": "UTC", "PGDATESTYLE": "ISO", "PGOPTIONS": "-c lc_messages=C"})
    out = p.stdout.replace(f"psql:{path}:", "psql:")
    expected = HERE / "expected" / (path.stem + ".out")
    if os.environ.get("MCP_JOBS_REGRESS_ACCEPT") == "1":
        expected.write_text(out)
    want = expected.read_text()
    if out != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), out.splitlines(True), "expected", "actual"))
        pytest.fail(f"{path.name} differs from expected output:\n{diff}")
