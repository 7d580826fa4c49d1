//! Helpers shared by the pg_test modules.
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// "ok", or the SQLSTATE and message `sql` raises: it runs in a subtransaction (a PL/pgSQL
/// EXCEPTION block), so the calling test goes on. The statement is a bind argument, not spliced.
pub fn try_sql(sql: &str) -> String {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN others THEN RETURN SQLSTATE || ' ' || SQLERRM; END $$",
    )
    .unwrap_or_else(|e| panic!("pg_temp.try_sql: {e}"));
    Spi::get_one_with_args::<String>("SELECT pg_temp.try_sql($1)", &[sql.into()])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

pub fn q<T: FromDatum + IntoDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

pub fn qa<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> T {
    Spi::get_one_with_args::<T>(sql, args)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

pub fn exec(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub fn enqueue(source: &str, job_type: &str, priority: i32) -> pgrx::Uuid {
    qa(
        "SELECT mcp_jobs.enqueue_job($1, $2, '{\"n\": 1}'::jsonb, $3)",
        &[source.into(), job_type.into(), priority.into()],
    )
}

/// (job id, run id) of the next claim by worker `w`.
pub fn claim(worker: &str) -> Option<(pgrx::Uuid, pgrx::Uuid)> {
    let (id, run) = Spi::get_two_with_args::<pgrx::Uuid, pgrx::Uuid>(
        "SELECT id, run_id FROM mcp_jobs.claim_next_job($1)",
        &[worker.into()],
    )
    .unwrap_or((None, None));
    Some((id?, run?))
}

pub fn status(id: pgrx::Uuid) -> String {
    qa(
        "SELECT status FROM mcp_jobs.jobs WHERE id = $1",
        &[id.into()],
    )
}

pub fn events(id: pgrx::Uuid) -> String {
    qa(
        "SELECT string_agg(event_type, ',' ORDER BY id) FROM mcp_jobs.job_events WHERE job_id = $1",
        &[id.into()],
    )
}

pub fn claim_batch(worker: &str, limit: i32) -> Vec<String> {
    let ids: String = qa(
        "SELECT coalesce(string_agg(c.id::text, ',' ORDER BY c.ordinality), '')
           FROM mcp_jobs.claim_jobs($1, p_limit => $2) WITH ORDINALITY c",
        &[worker.into(), limit.into()],
    );
    ids.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
