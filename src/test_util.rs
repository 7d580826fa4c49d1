//! Helpers shared by the pg_test modules.
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
