"""README's first command (scripts/run.sh) ends in scripts/run.py: start it in smoke mode, which
brings the whole stack up (PostgreSQL, PostgREST behind nginx, the console under `next start`, built
first when its sources changed), enqueues one job through nginx + PostgREST, finds it through the
console's /api/jobs/list, and tears everything down."""
import os
import re
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_run_stack_smoke() -> None:
    p = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "run.py"), "--smoke"],
                       capture_output=True, text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'psql "postgresql://postgres@127.0.0.1:' in p.stdout
    assert re.search(r"^  console: +http://127\.0\.0\.1:\d+/$", p.stdout, re.MULTILINE), p.stdout
    assert re.search(r"smoke: enqueued job [0-9a-f-]{36} through http://127\.0\.0\.1:\d+/rest/v1", p.stdout), p.stdout
    assert re.search(r"smoke: the console at http://127\.0\.0\.1:\d+/ lists job [0-9a-f-]{36}", p.stdout), p.stdout
