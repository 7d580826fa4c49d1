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
    target = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.MULTILINE).group(1)
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
    """Jobs in every state, written with plain SQL in the shape every released version's functions
    write them (the columns of jobs, job_runs, job_events, dead_letter_queue and metrics are the same
    since 0.1.0). Not through the old version's functions: those run on the new library only after
    ALTER EXTENSION UPDATE (before it they refuse, test_old_api_refuses_before_update). Returns ids
    worth checking afterwards."""
    one = lambda sql, *a: conn.execute(sql, a).fetchone()
    ids = {}
    ids["queued"] = one("""INSERT INTO mcp_jobs.jobs (source, job_type, payload, priority)
                           VALUES ('up', 'queued', '{"n": 123456789012345678901234567890}', 5) RETURNING id""")[0]
    conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
                    VALUES (%s, 'enqueued', '{"priority": 5}')""", (ids["queued"],))
    done, run = one("SELECT mcp_jobs.uuidv7(), mcp_jobs.uuidv7()")
    conn.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, priority, status, attempts, worker_id,
                        current_run_id, result, started_at, finished_at)
                    VALUES (%s, 'up', 'done', 9, 'completed', 1, 'w', %s, '{"ok": true}', now(), now())""",
                 (done, run))
    conn.execute("""INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, worker_id, finished_at, outcome, lease_seconds)
                    VALUES (%s, %s, 1, 'w', now(), 'completed', 300)""", (run, done))
    for ev in ("enqueued", "started", "progress", "completed"):
        conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
                        VALUES (%s, %s, %s, '{"attempt": 1}')""", (done, None if ev == "enqueued" else run, ev))
    dead = one("SELECT mcp_jobs.uuidv7()")[0]
    conn.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, priority, status, attempts, max_attempts,
                        worker_id, last_error, started_at, finished_at)
                    VALUES (%s, 'up', 'dead', 9, 'failed', 2, 2, 'w', 'boom', now(), now())""", (dead,))
    for attempt in (1, 2):
        conn.execute("""INSERT INTO mcp_jobs.job_runs (job_id, attempt, worker_id, finished_at, outcome, error, lease_seconds)
                        VALUES (%s, %s, 'w', now(), 'failed', 'boom', 300)""", (dead, attempt))
    ids["dead_letter"] = one("""INSERT INTO mcp_jobs.dead_letter_queue (job_id, source, job_type, payload, attempts, last_error)
                                VALUES (%s, 'up', 'dead', '{}', 2, 'boom') RETURNING id""", dead)[0]
    conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
                    VALUES (%s, 'dead_lettered', '{"attempts": 2}')""", (dead,))
    conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, finished_at)
                    VALUES ('up', 'cancel', 'cancelled', now())""")
    ids["processing"], ids["run"] = one("SELECT mcp_jobs.uuidv7(), mcp_jobs.uuidv7()")
    conn.execute("""INSERT INTO mcp_jobs.jobs (id, source, job_type, status, attempts, worker_id, current_run_id,
                        idempotency_key, lease_expires_at, started_at)
                    VALUES (%s, 'up', 'busy', 'processing', 1, 'w', %s, 'k1', now() + interval '1 hour', now())""",
                 (ids["processing"], ids["run"]))
    conn.execute("""INSERT INTO mcp_jobs.job_runs (id, job_id, attempt, worker_id, lease_seconds)
                    VALUES (%s, %s, 1, 'w', 3600)""", (ids["run"], ids["processing"]))
    conn.execute("INSERT INTO mcp_jobs.metrics (hour, source, job_type, enqueued, completed) "
                 "VALUES (date_trunc('hour', now()), 'up', 'done', 1, 1)")
    return ids


def snapshot(conn, columns):
    out = {}
    for t in columns:
        cols = ", ".join(f'"{c}"' for c in columns[t])
        out[t] = conn.execute(f"SELECT {cols} FROM mcp_jobs.{t} ORDER BY 1, 2, 3").fetchall()
    return out


def table_columns(conn):
    """The columns of each table the installed version has (older versions lack newer tables)."""
    present = [t for t in TABLES
               if conn.execute("SELECT to_regclass(%s)", (f"mcp_jobs.{t}",)).fetchone()[0] is not None]
    return {t: [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (f"mcp_jobs.{t}",))] for t in present}


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
        # from the previous release, every function of the upgraded extension is the worker's, as
        # grant_access gives them (older scripts did not grant what they added: README says to run
        # grant_access again after an upgrade)
        missing = []
        if version == VERSIONS[-1]:
            missing = conn.execute("""
            SELECT p.oid::regprocedure::text FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
             WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mcp_jobs') AND d.deptype = 'e'
               AND d.classid = 'pg_proc'::regclass AND p.proname NOT IN ('grant_access', 'revoke_access')
               AND NOT has_function_privilege('upgrade_worker', p.oid, 'EXECUTE')""").fetchall()
        assert not missing, f"upgrade_worker lost or never got: {missing}"
        # the fresh install has neither role: compare the schemas without them
        conn.execute("SELECT mcp_jobs.revoke_access('upgrade_worker')")
        conn.execute("REVOKE ALL ON FUNCTION mcp_jobs.complete_job(uuid, uuid, jsonb) FROM upgrade_completer")
        conn.execute("REVOKE USAGE ON SCHEMA mcp_jobs FROM upgrade_completer")
        upgraded_schema = [r[0] for r in conn.execute(SCHEMA_SQL).fetchall()]

        # the API works on the upgraded data
        one = lambda sql, *a: conn.execute(sql, a).fetchone()
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


def test_library_exports_every_archived_symbol():
    """Every C symbol an archived install script or an upgrade script names is exported by the
    library (src/compat.rs keeps the ones whose function changed): a database still on an old
    version's SQL objects must never call a symbol that is gone."""
    lib = pathlib.Path(_pg("--pkglibdir")) / "mcp_jobs.so"
    exported = set(subprocess.check_output(["nm", "-D", "--defined-only", str(lib)], text=True).split())
    scripts = list(ARCHIVE) + list((REPO / "sql").glob("mcp_jobs--*--*.sql"))
    named = {m.group(1) for p in scripts for m in re.finditer(r"'MODULE_PATHNAME',\s*'([^']+)'", p.read_text())}
    assert named, "the scripts name C symbols"
    assert not sorted(named - exported), f"symbols named by scripts but not exported: {sorted(named - exported)}"


def test_old_api_refuses_before_update(cluster, archived_scripts_installed):
    """The state between installing a new library and ALTER EXTENSION UPDATE: the old version's queue
    functions refuse with 55000 and a hint to update (those whose arguments changed, and those the
    new library serves only on the new tables), and change nothing."""
    version = VERSIONS[-1]
    db = "old_api_" + version.replace(".", "_")
    cluster.psql(f'DROP DATABASE IF EXISTS "{db}"; CREATE DATABASE "{db}";')
    cluster.psql(f"CREATE EXTENSION mcp_jobs VERSION '{version}';", dbname=db)
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        ids = populate(conn)
        before = snapshot(conn, table_columns(conn))
        for call, args in (("SELECT mcp_jobs.fail_job(%s, %s, 'boom')", (ids["processing"], ids["run"])),
                           ("SELECT mcp_jobs.complete_job(%s, %s)", (ids["processing"], ids["run"])),
                           ("SELECT mcp_jobs.enqueue_job('up', 't')", ()),
                           ("SELECT * FROM mcp_jobs.claim_next_job('w')", ()),
                           ("SELECT * FROM mcp_jobs.claim_jobs('w')", ()),
                           ("SELECT mcp_jobs.cancel_job(%s)", (ids["queued"],)),
                           # reads and maintenance: they would fail on the new version's missing
                           # relations; they say why instead
                           ("SELECT mcp_jobs.get_job_stats()", ()),
                           ("SELECT * FROM mcp_jobs.alerts()", ()),
                           ("SELECT mcp_jobs.run_maintenance()", ()),
                           ("SELECT mcp_jobs.aggregate_metrics()", ())):
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
                conn.execute(call, args)
            assert f"extension in this database is version {version}" in str(e.value), call
            assert "ALTER EXTENSION mcp_jobs UPDATE" in e.value.diag.message_hint, call
        assert snapshot(conn, table_columns(conn)) == before
    cluster.psql(f'DROP DATABASE "{db}";')


def test_upgrade_from_the_previous_version_keeps_a_large_history(cluster, archived_scripts_installed):
    """0.7.0 re-keys job_runs and job_events by (job_id, id): with a history of 300 000 events and
    100 000 runs every row is kept, and the rebuilt keys find them."""
    previous = VERSIONS[-1]
    db = "upgrade_large_history"
    cluster.psql(f'DROP DATABASE IF EXISTS "{db}"; CREATE DATABASE "{db}";')
    cluster.psql(f"CREATE EXTENSION mcp_jobs VERSION '{previous}';", dbname=db)
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        conn.execute("""INSERT INTO mcp_jobs.jobs (source, job_type, status, attempts, finished_at)
                        SELECT 'hist', 't' || (i % 7), 'completed', 1, now() - interval '1 hour'
                          FROM generate_series(1, 100000) i""")
        conn.execute("""INSERT INTO mcp_jobs.job_runs (job_id, attempt, started_at, finished_at, outcome, lease_seconds)
                        SELECT id, 1, now() - interval '2 hours', now() - interval '1 hour', 'completed', 60
                          FROM mcp_jobs.jobs WHERE source = 'hist'""")
        conn.execute("""INSERT INTO mcp_jobs.job_events (job_id, event_type, created_at)
                        SELECT j.id, e, now() - interval '1 hour'
                          FROM mcp_jobs.jobs j, unnest(ARRAY['enqueued', 'started', 'completed']) e
                         WHERE j.source = 'hist'""")
        digest = ("SELECT count(*), md5(string_agg(x::text, '' ORDER BY x::text)) FROM "
                  "(SELECT job_id, id, event_type, created_at FROM mcp_jobs.job_events) x")
        runs = ("SELECT count(*), md5(string_agg(x::text, '' ORDER BY x::text)) FROM "
                "(SELECT job_id, id, attempt, outcome FROM mcp_jobs.job_runs) x")
        before = (conn.execute(digest).fetchone(), conn.execute(runs).fetchone())
        assert before[0][0] == 300000 and before[1][0] == 100000
        conn.execute("ALTER EXTENSION mcp_jobs UPDATE")
        assert (conn.execute(digest).fetchone(), conn.execute(runs).fetchone()) == before
        # a job's history is read by the new key, and deleting jobs takes theirs with them
        some = conn.execute("SELECT id FROM mcp_jobs.jobs WHERE source = 'hist' LIMIT 1").fetchone()[0]
        detail = conn.execute("SELECT mcp_jobs.get_job(%s)", (some,)).fetchone()[0]
        assert len(detail["events"]) == 3 and len(detail["runs"]) == 1
        conn.execute("DELETE FROM mcp_jobs.jobs WHERE id = %s", (some,))
        assert conn.execute("SELECT count(*) FROM mcp_jobs.job_events WHERE job_id = %s", (some,)).fetchone()[0] == 0
