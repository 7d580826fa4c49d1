"""README's Python worker runs as written: its code block, unchanged, as a process against the stack
(PostgREST 12.0.2 behind nginx), given SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import uuid

from pgharness import wait_until
from pyclient_helpers import Db, scalar

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_block(section: str, lang: str) -> str:
    """The first ```lang block under README's `## section` heading."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    m = re.search(rf"```{lang}\n(.*?)```", text[start:end if end > 0 else None], re.S)
    assert m is not None, f"no {lang} block in README's {section}"
    return m.group(1)


def test_the_readme_python_worker_runs_as_written(url: str, key: str, db: Db) -> None:
    code = readme_block("Workers", "python")
    source = "readme-" + uuid.uuid4().hex[:8]
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    env = {**os.environ, "SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key}
    proc = subprocess.Popen([sys.executable, f.name], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ids = [scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'discovery', %s::jsonb)", (source, p))
               for p in ('{"host": "erp-1"}', "{}")]
        wait_until(lambda: scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND status = 'completed'",
                                  (source,)) == 2, timeout=60, interval=0.05, what="the README worker's jobs")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.unlink(f.name)
    results = [scalar(db, "SELECT result FROM mcp_jobs.jobs WHERE id = %s", (i,)) for i in ids]
    assert results == [{"host": "erp-1", "scanned": True}, {"host": None, "scanned": True}]
    progress = scalar(db, """SELECT count(*) FROM mcp_jobs.job_events
                              WHERE job_id = ANY(%s) AND event_type = 'progress'
                                AND data->'progress' = '{"step": "scanning"}'""", (ids,))
    assert progress == 2
