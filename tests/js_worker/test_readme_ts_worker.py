"""README's TypeScript worker runs as written: its code block, unchanged, compiled with tsc (strict,
NodeNext) against clients/js as the package `mcp-jobs`, then run by node against the stack
(PostgREST 12.0.2 behind nginx), given SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid

from jsworker_helpers import CLIENT_DIR, REPO, Db, scalar
from pgharness import wait_until


def readme_block(section: str, lang: str) -> str:
    """The first ```lang block under README's `## section` heading."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    m = re.search(rf"```{lang}\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert m is not None, f"no {lang} block in README's {section}"
    return m.group(1)


def test_the_readme_typescript_worker_compiles_and_runs_as_written(url: str, key: str, db: Db) -> None:
    code = readme_block("Workers", "ts")
    # a user's project: an ES module package with mcp-jobs (this clients/js) and @types/node installed
    work = tempfile.mkdtemp(prefix="mcp-jobs-readme-")
    try:
        os.makedirs(os.path.join(work, "node_modules", "@types"))
        os.symlink(CLIENT_DIR, os.path.join(work, "node_modules", "mcp-jobs"))
        os.symlink(os.path.join(CLIENT_DIR, "node_modules", "@types", "node"),
                   os.path.join(work, "node_modules", "@types", "node"))
        with open(os.path.join(work, "package.json"), "w") as f:
            f.write('{"name": "readme-worker", "private": true, "type": "module"}\n')
        with open(os.path.join(work, "worker.ts"), "w") as f:
            f.write(code)
        tsc = subprocess.run(
            [os.path.join(CLIENT_DIR, "node_modules", ".bin", "tsc"), "--strict", "--noUncheckedIndexedAccess",
             "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--types", "node",
             "--skipLibCheck", "worker.ts"],
            cwd=work, capture_output=True, text=True, timeout=300, check=False,
        )
        assert tsc.returncode == 0, tsc.stdout + tsc.stderr
        source = "readme-" + uuid.uuid4().hex[:8]
        env = {**os.environ, "SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key}
        proc = subprocess.Popen(["node", os.path.join(work, "worker.js")], env=env, stderr=subprocess.PIPE,
                                text=True)
        try:
            ids = [scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'discovery', %s::jsonb)", (source, p))
                   for p in ('{"host": "erp-1"}', "{}")]
            done = "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s AND status = 'completed'"
            wait_until(lambda: scalar(db, done, (source,)) == 2, timeout=60, interval=0.05,
                       what="the README worker's jobs")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    finally:
        shutil.rmtree(work)
    results = [scalar(db, "SELECT result FROM mcp_jobs.jobs WHERE id = %s", (i,)) for i in ids]
    assert results == [{"host": "erp-1", "scanned": True}, {"host": None, "scanned": True}]
    progress = scalar(db, """SELECT count(*) FROM mcp_jobs.job_events
                              WHERE job_id = ANY(%s) AND event_type = 'progress'
                                AND data->'progress' = '{"step": "scanning"}'""", (ids,))
    assert progress == 2
