"""mcp-jobs-mcp (clients/js/dist/mcp-cli.js): an MCP client of the same SDK starts it over stdio, lists
its tools and calls each; bad arguments and refused calls are tool errors; --read-only lists only the
reads. What the tools did is checked in the database."""

import json
import os
import subprocess
import uuid
from typing import Any

from jsworker_helpers import HERE, MCP_CHECK, Db, job_state, scalar

READS = ["list_jobs", "get_job", "get_job_stats", "queue_depth", "alerts", "list_dead_letters", "dead_letter_groups"]
WRITES = ["enqueue_job", "cancel_job", "requeue_dead_letter", "resolve_dead_letter"]


def _mcp(
    url: str, key: str, calls: list[dict[str, Any]], args: list[str] | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    plan = {
        "args": args or [],
        "env": env if env is not None else {"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key},
        "calls": calls,
    }
    p = subprocess.run(
        ["node", MCP_CHECK, json.dumps(plan)], cwd=HERE, capture_output=True, text=True, timeout=60, check=False
    )
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def _json(result: dict[str, Any]) -> Any:
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


def _error(result: dict[str, Any]) -> str:
    assert result.get("isError") is True, result
    return str(result["content"][0]["text"])


def test_the_tools_over_stdio(url: str, key: str, db: Db, source: str) -> None:
    dead = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'sync', '{}', p_max_attempts => 1)::text", (source,))
    run = scalar(db, "SELECT run_id::text FROM mcp_jobs.claim_next_job('t', ARRAY[%s])", (source,))
    dl = scalar(db, "SELECT mcp_jobs.fail_job(%s, %s, 'bad credentials')->>'dead_letter_id'", (dead, run))
    dead2 = scalar(db, "SELECT mcp_jobs.enqueue_job(%s, 'sync', '{}', p_max_attempts => 1)::text", (source,))
    run2 = scalar(db, "SELECT run_id::text FROM mcp_jobs.claim_next_job('t', ARRAY[%s])", (source,))
    dl2 = scalar(db, "SELECT mcp_jobs.fail_job(%s, %s, 'gone')->>'dead_letter_id'", (dead2, run2))

    calls: list[dict[str, Any]] = [
        {
            "name": "enqueue_job",
            "arguments": {
                "source": source,
                "job_type": "discovery",
                "payload": {"host": "erp-1"},
                "priority": 7,
                "idempotency_key": "k1",
            },
        },
        {"name": "list_jobs", "arguments": {"source": source, "status": "failed"}},
        {"name": "get_job", "arguments": {"job_id": dead}},
        {"name": "get_job_stats", "arguments": {"source": source}},
        {"name": "queue_depth", "arguments": {}},
        {"name": "alerts", "arguments": {}},
        {"name": "list_dead_letters", "arguments": {"source": source}},
        {"name": "dead_letter_groups", "arguments": {}},
        {"name": "requeue_dead_letter", "arguments": {"dead_letter_id": dl}},
        {"name": "resolve_dead_letter", "arguments": {"dead_letter_id": dl2, "note": "checked"}},
        # refused by the queue: a dead letter resolved already (409), an unknown job (404)
        {"name": "resolve_dead_letter", "arguments": {"dead_letter_id": dl2}},
        {"name": "get_job", "arguments": {"job_id": str(uuid.uuid4())}},
        # bad arguments: refused by the input schema or by the function
        {"name": "enqueue_job", "arguments": {"source": source}},
        {"name": "enqueue_job", "arguments": {"source": source, "job_type": "x", "priority": 42}},
        {"name": "get_job", "arguments": {"job_id": "not-a-uuid"}},
        {"name": "list_jobs", "arguments": {"limit": 0}},
        {"name": "no_such_tool", "arguments": {}},
        {"name": "enqueue_job", "arguments": {"source": " ", "job_type": "x"}},
    ]
    out = _mcp(url, key, calls)
    names = [t["name"] for t in out["tools"]]
    assert sorted(names) == sorted(READS + WRITES)
    for t in out["tools"]:
        assert t["inputSchema"]["type"] == "object", t
        assert t["annotations"]["readOnlyHint"] is (t["name"] in READS), t
    enq = next(t for t in out["tools"] if t["name"] == "enqueue_job")
    assert set(enq["inputSchema"]["required"]) == {"source", "job_type"}

    r = out["results"]
    new_id = _json(r[0])["job_id"]
    assert (
        scalar(db, 'SELECT priority FROM mcp_jobs.jobs WHERE id = %s AND payload = \'{"host": "erp-1"}\'', (new_id,))
        == 7
    )
    assert {j["id"] for j in _json(r[1])} == {dead, dead2}
    detail = _json(r[2])
    assert detail["id"] == dead and [x["outcome"] for x in detail["runs"]] == ["failed"]
    assert [e["event_type"] for e in detail["events"]] == ["enqueued", "started", "failed", "dead_lettered"]
    assert [d["id"] for d in detail["dead_letters"]] == [dl]
    stats = _json(r[3])
    assert (stats["queued"], stats["failed"], stats["dead_letter_unresolved"]) == (1, 2, 2)
    assert next(d for d in _json(r[4]) if d["source"] == source)["queued"] == 1
    assert isinstance(_json(r[5]), list)
    assert {d["id"] for d in _json(r[6])} == {dl, dl2}
    assert {g["error"] for g in _json(r[7]) if g["source"] == source} == {"bad credentials", "gone"}
    assert _json(r[8]) == {"job_id": dead} and job_state(db, dead) == ("queued", 0)
    assert _json(r[9])["resolution_note"] == "checked"
    assert scalar(db, "SELECT resolution FROM mcp_jobs.dead_letter_queue WHERE id = %s", (dl2,)) == "resolved"
    assert "HTTP 409" in _error(r[10])
    assert "HTTP 404" in _error(r[11])
    assert "job_type" in _error(r[12])
    assert "priority" in _error(r[13])
    assert "uuid" in _error(r[14]).lower()
    assert "limit" in _error(r[15])
    assert "no_such_tool" in _error(r[16])
    assert "HTTP 400" in _error(r[17])
    # the refused and bad calls wrote nothing: one job enqueued by the tool
    assert scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s", (source,)) == 3

    # cancel_job: the queued job, then again (refused: no longer queued)
    out = _mcp(
        url,
        key,
        [
            {"name": "cancel_job", "arguments": {"job_id": new_id}},
            {"name": "cancel_job", "arguments": {"job_id": new_id}},
        ],
    )
    assert _json(out["results"][0])["status"] == "cancelled"
    assert "HTTP 409" in _error(out["results"][1])


def test_read_only_lists_only_the_reads(url: str, key: str, db: Db, source: str) -> None:
    out = _mcp(
        url,
        key,
        [
            {"name": "get_job_stats", "arguments": {}},
            {"name": "enqueue_job", "arguments": {"source": source, "job_type": "x"}},
        ],
        args=["--read-only"],
    )
    assert sorted(t["name"] for t in out["tools"]) == sorted(READS)
    assert "total" in _json(out["results"][0])
    assert "enqueue_job" in _error(out["results"][1])
    assert scalar(db, "SELECT count(*) FROM mcp_jobs.jobs WHERE source = %s", (source,)) == 0


def test_configuration_errors(url: str, key: str) -> None:
    cli = os.path.join(HERE, "..", "..", "clients", "js", "dist", "mcp-cli.js")
    env = {"PATH": os.environ.get("PATH", "")}
    p = subprocess.run(
        ["node", cli], env=env, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL
    )
    assert p.returncode == 2 and "SUPABASE_URL" in p.stderr
    p = subprocess.run(
        ["node", cli, "--bogus"],
        env={**env, "SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 2 and "--bogus" in p.stderr
    # the key from another variable (--key-env)
    out = _mcp(
        url,
        key,
        [{"name": "get_job_stats", "arguments": {}}],
        args=["--key-env", "MY_KEY"],
        env={"SUPABASE_URL": url, "MY_KEY": key},
    )
    assert "total" in _json(out["results"][0])
    # a wrong key: the server starts, the call is a tool error saying why
    out = _mcp(
        url,
        key,
        [{"name": "get_job_stats", "arguments": {}}],
        env={"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": "not-a-jwt"},
    )
    assert "HTTP 401" in _error(out["results"][0])
