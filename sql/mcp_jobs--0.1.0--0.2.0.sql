-- mcp_jobs 0.1.0 -> 0.2.0
--
-- Upgrade scripts only add or alter objects; they never drop and recreate a table (data is kept).
-- tests/test_upgrade.py installs 0.1.0 (sql/archive/mcp_jobs--0.1.0.sql) with data in every state,
-- runs ALTER EXTENSION mcp_jobs UPDATE, checks every row and the API, and compares the upgraded
-- schema object by object with a fresh 0.2.0 install: anything added to the extension must be added
-- here too.
\echo Use "ALTER EXTENSION mcp_jobs UPDATE TO '0.2.0'" to load this file. \quit
