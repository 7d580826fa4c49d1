"""Upgrades: every archived version installs, holds data in every state, and
`ALTER EXTENSION mcp_jobs UPDATE` brings it to the current version with every row intact, the API
working, and a schema identical, object by object, to a fresh install of the current version.

Archived full scripts live in sql/archive/ (pgrx installs only the current version's script); the
test copies them into the extension directory of $PG_CONFIG's PostgreSQL.
"""
import pathlib
import re
import shutil
import subprocess

import psycopg
import pytest

from pgharness import PG_CONFIG, TABLES

REPO = pathlib.Path(__file__).resolve().parent.parent
ARCHIVE = sorted((REPO / "sql" / "archive").glob("mcp_jobs--*.sql"))
VERSIONS = [re.match(r"mcp_jobs--(.+)\.sql", p.name).group(1) for p in ARCHIVE]

# One canonical line per object of the extension: what a fresh install and an upgraded one must share.
# ACL entries are sorted: the order of grants is not part of the schema.
SCHEMA_SQL = r"""
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
    SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text || ' ' || pg_get_functiondef(p.oid)
           || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), '-')
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text
           || ' options=' || coalesce(c.reloptions::text, '-') || ' rls=' || c.relrowsecurity
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), '-')
           || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '-')
           || ' view=' || CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) ELSE '-' END
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'mcp_jobs' AND c.relkind <> 'i'
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass::text || ' #'
           || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || ' ' || a.attname
           || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
           || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
           || ' generated=' || a.attgenerated::text || ' identity=' || a.attidentity::text
           || ' comment=' || coalesce(col_description(a.attrelid, a.attnum), '-')
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '-')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE n.nspname = 'mcp_jobs' AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'mcp_jobs'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'mcp_jobs'::regnamespace
    UNION ALL
    SELECT 'policy ' || polrelid::regclass::text || ' ' || polname || ' ' || polcmd::text
           || ' ' || coalesce(pg_get_expr(polqual, polrelid), '-')
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'mcp_jobs'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'mcp_jobs'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'config_dump ' || string_agg(c::regclass::text || ':' || coalesce(cond, ''), ',' ORDER BY c::regclass::text)
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond) WHERE e.extname = 'mcp_jobs'
    UNION ALL
    SELECT 'schema comment ' || coalesce(obj_description('mcp_jobs'::regnamespace, 'pg_namespace'), '-')
) s ORDER BY line
"""


def _pg(*args):
    return subprocess.check_output([PG_CONFIG, *args], text=True).strip()


def current_version():
    control = pathlib.Path(_pg("--sharedir")) / "extension" / "mcp_jobs.control"
    return re.search(r"default_version\s*=\s*'([^']+)'", control.read_text()).group(1)


@pytest.fixture(scope="module")
def archived_scripts_installed():
    """Put the archived scripts into the extension directory, over any file of the same name (an
    install of an old checkout may have left a different one), and put back what was there."""
    ext_dir = pathlib.Path(_pg("--sharedir")) / "extension"
    saved = {}
    for p in ARCHIVE:
        dest = ext_dir / p.name
        saved[dest] = dest.read_bytes() if dest.exists() else None
        shutil.copyfile(p, dest)
    yield
    for dest, content in saved.items():
        if content is None:
            dest.unlink(missing_ok=True)
        else:
            dest.write_bytes(content)


def test_every_archived_version_has_an_upgrade_path():
    """Each archived version X has sql/mcp_jobs--X--Y.sql, and the chain reaches the crate version."""
    cargo = (REPO / "Cargo.toml").read_text()
    target = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M).group(1)
    steps = {m.group(1): m.group(2) for p in (REPO / "sql").glob("mcp_jobs--*--*.sql")
             if (m := re.match(r"mcp_jobs--(.+)--(.+)\.sql", p.name))}
    assert VERSIONS, "sql/archive holds at least the first release"
    for v in VERSIONS:
        seen = {v}
        while v != target:
            assert v in steps, f"no upgrade script from {v}"
            v = steps[v]
            assert v not in seen, "upgrade scripts form a cycle"
            seen.add(v)


def populate(conn):
    """Jobs in every state through the old version's SQL API, run by the current library (the state
    between installing new files and ALTER EXTENSION UPDATE); returns ids worth checking afterwards."""
    one = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
    conn.execute("SET mcp_jobs.retry_base_delay = 0")
    ids = {}
    ids["queued"] = one("SELECT mcp_jobs.enqueue_job('up', 'queued', '{\"n\": 123456789012345678901234567890}')")[0]
    done = one("SELECT mcp_jobs.enqueue_job('up', 'done', '{}', 9)")[0]
    run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', p_job_types => ARRAY['done'])")[0]
    one("SELECT mcp_jobs.report_progress(%s, %s, '{\"pct\": 10}')", done, run)
    one("SELECT mcp_jobs.complete_job(%s, %s, '{\"ok\": true}')", done, run)
    dead = one("SELECT mcp_jobs.enqueue_job('up', 'dead', '{}', 9, NULL, 2)")[0]
    for _ in range(2):
        run = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', p_job_types => ARRAY['dead'])")[0]
        one("SELECT mcp_jobs.fail_job(%s, %s, 'boom')", dead, run)
    ids["dead_letter"] = one("SELECT id FROM mcp_jobs.dead_letter_queue WHERE job_id = %s", dead)[0]
    cancelled = one("SELECT mcp_jobs.enqueue_job('up', 'cancel')")[0]
    one("SELECT mcp_jobs.cancel_job(%s)", cancelled)
    ids["processing"] = one("SELECT mcp_jobs.enqueue_job('up', 'busy', p_idempotency_key => 'k1')")[0]
    ids["run"] = one("SELECT run_id FROM mcp_jobs.claim_next_job('w', p_job_types => ARRAY['busy'], "
                     "p_lease_seconds => 3600)")[0]
    conn.execute("INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued, completed) "
                 "VALUES (date_trunc('hour', now()), 'up', 'done', 1, 1)")
    return ids


def snapshot(conn, columns):
    out = {}
    for t in TABLES:
        cols = ", ".join(f'"{c}"' for c in columns[t])
        out[t] = conn.execute(f"SELECT {cols} FROM mcp_jobs.{t} ORDER BY 1, 2, 3").fetchall()
    return out


def table_columns(conn):
    return {t: [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (f"mcp_jobs.{t}",))] for t in TABLES}


@pytest.mark.parametrize("version", VERSIONS)
def test_upgrade_keeps_data_and_matches_fresh_install(cluster, archived_scripts_installed, version):
    target = current_version()
    # with Supabase's service_role present, so that the grants made at install and at upgrade are compared too
    cluster.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN "
                 "CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF; END $$;")
    db_up, db_fresh = f"upgrade_from_{version.replace('.', '_')}", "upgrade_fresh"
    for db in (db_up, db_fresh):
        cluster.psql(f'DROP DATABASE IF EXISTS "{db}"; CREATE DATABASE "{db}";')
    cluster.psql(f"CREATE EXTENSION mcp_jobs VERSION '{version}';", dbname=db_up)
    cluster.psql("CREATE EXTENSION mcp_jobs;", dbname=db_fresh)

    # a worker role given the queue with grant_access before the upgrade, and a role that may only
    # complete jobs
    cluster.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'upgrade_worker') THEN "
                 "CREATE ROLE upgrade_worker NOLOGIN; CREATE ROLE upgrade_completer NOLOGIN; END IF; END $$;")

    with psycopg.connect(cluster.dsn(db_up), autocommit=True) as conn:
        ids = populate(conn)
        conn.execute("SELECT mcp_jobs.grant_access('upgrade_worker')")
        conn.execute("GRANT USAGE ON SCHEMA mcp_jobs TO upgrade_completer")
        conn.execute("GRANT EXECUTE ON FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) TO upgrade_completer")
        old_columns = table_columns(conn)
        before = snapshot(conn, old_columns)
        conn.execute("ALTER EXTENSION mcp_jobs UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'mcp_jobs'").fetchone()[0] == target
        assert snapshot(conn, old_columns) == before, "every row of every table is unchanged by the upgrade"
        # complete_and_claim_next (0.6.0) can do nothing complete_job and claim_next_job cannot: a role
        # that had both before the upgrade may call it, one that could only complete may not
        fused = ["mcp_jobs.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer)",
                 "public.complete_and_claim_next(uuid, uuid, jsonb, text, text[], text[], integer)"]
        for role, allowed in (("upgrade_worker", True), ("upgrade_completer", False)):
            for f in fused:
                assert conn.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')",
                                    (role, f)).fetchone()[0] is allowed, (role, f)
        # the fresh install has neither role: compare the schemas without them
        conn.execute("SELECT mcp_jobs.revoke_access('upgrade_worker')")
        conn.execute("REVOKE ALL ON FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) FROM upgrade_completer")
        conn.execute("REVOKE USAGE ON SCHEMA mcp_jobs FROM upgrade_completer")
        upgraded_schema = [r[0] for r in conn.execute(SCHEMA_SQL).fetchall()]

        # the API works on the upgraded data
        one = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
        assert one("SELECT mcp_jobs.complete_job(%s, %s)", ids["processing"], ids["run"])[0]["status"] == "completed"
        assert one("SELECT mcp_jobs.enqueue_job('up', 'busy', p_idempotency_key => 'k1')")[0] == ids["processing"]
        claimed = one("SELECT id, payload FROM mcp_jobs.claim_next_job('w2', ARRAY['up'])")
        assert claimed[0] == ids["queued"] and claimed[1] == {"n": 123456789012345678901234567890}
        job = one("SELECT mcp_jobs.requeue_dead_letter(%s)", ids["dead_letter"])[0]
        assert one("SELECT status FROM mcp_jobs.jobs WHERE id = %s", job)[0] == "queued"
        new = one("SELECT mcp_jobs.enqueue_job('up', 'after')")[0]
        assert one("SELECT count(*) FROM mcp_jobs.job_events WHERE job_id = %s", new)[0] == 1

    with psycopg.connect(cluster.dsn(db_fresh), autocommit=True) as conn:
        fresh_schema = [r[0] for r in conn.execute(SCHEMA_SQL).fetchall()]
    only_fresh = sorted(set(fresh_schema) - set(upgraded_schema))
    only_upgraded = sorted(set(upgraded_schema) - set(fresh_schema))
    assert not only_fresh and not only_upgraded, (
        "the upgrade script and the fresh install differ:\n"
        + "\n".join("  missing after upgrade: " + line[:300] for line in only_fresh)
        + "\n" + "\n".join("  only after upgrade:   " + line[:300] for line in only_upgraded))
