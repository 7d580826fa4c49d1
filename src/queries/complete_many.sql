-- $1 job ids, $2 run ids, $3 results (NULL: no results); the caller checked that the arrays have the
-- same length and that no job id repeats. complete.sql for every (job, run) pair whose run is still
-- the job's current processing run (fencing): job row, run closed 'completed', 'completed' event.
-- Returns the 1-based positions of the pairs it completed; complete_many_reasons.sql explains the
-- others.
--
-- No join: each job is found by `id = ANY ($1)` (a key probe whatever the statistics say, claim.sql)
-- and its pair by its position in $1. Joined to the unnested arrays, a backend's generic plan made
-- while jobs was small read the whole of jobs_pkey on every call (19 ms per call at 100 000 jobs;
-- tests/test_plans.py), and a join the planner estimated at one row compared every pair with every
-- job. No CTE is joined to another CTE either (estimated at one row, they were joined by nested
-- loops, quadratic in the batch size): the events come from the closed runs alone.
WITH upd AS (
    UPDATE mcp_jobs.jobs j
       SET status = 'completed', result = ($3::jsonb[])[array_position($1::uuid[], j.id)],
           finished_at = now(), updated_at = now(), lease_expires_at = NULL
     WHERE j.id = ANY ($1::uuid[])
       AND j.status = 'processing' COLLATE "C"  -- not jobs_lease_idx's predicate (schema.sql)
       AND j.current_run_id = ($2::uuid[])[array_position($1::uuid[], j.id)]
    RETURNING j.current_run_id, array_position($1::uuid[], j.id)::bigint AS ord
), run AS (
    UPDATE mcp_jobs.job_runs r
       SET finished_at = now(), outcome = 'completed'
     WHERE r.id = ANY (ARRAY(SELECT current_run_id FROM upd))  -- a key probe (claim.sql)
    RETURNING r.job_id, r.id, r.attempt, r.duration_ms
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, run_id, event_type, data)
    SELECT job_id, id, 'completed', jsonb_build_object('attempt', attempt, 'duration_ms', duration_ms)
      FROM run
     ORDER BY job_id
)
SELECT ord FROM upd
