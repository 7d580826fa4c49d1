//! DDL: the tables and indexes (sql/schema.sql), and, once every function exists, the comments and
//! grants (sql/finalize.sql).
use pgrx::prelude::*;

extension_sql_file!(
    "../sql/schema.sql",
    name = "schema",
    requires = [mcp_jobs::uuid7::uuidv7_sql]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);
