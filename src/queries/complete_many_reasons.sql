-- $1 job ids, $2 run ids: the pairs complete_many.sql did not complete. Why, per pair, in input
-- order: the job's status and the reason (the reasons of complete_job's errors). LATERAL lookups so
-- that each pair is one primary-key probe whatever the statistics say.
SELECT i.ord, j.status,
       CASE WHEN j.id IS NULL THEN 'not found'
            WHEN r.outcome = 'lease_expired' THEN 'lease expired'
            WHEN j.status <> 'processing' THEN 'not processing: ' || j.status
            ELSE 'stale run'
       END
  FROM ROWS FROM (unnest($1::uuid[]), unnest($2::uuid[])) WITH ORDINALITY AS i(job_id, run_id, ord)
  LEFT JOIN LATERAL (SELECT jj.id, jj.status FROM mcp_jobs.jobs jj WHERE jj.id = i.job_id) j ON true
  LEFT JOIN LATERAL (SELECT rr.outcome FROM mcp_jobs.job_runs rr
                      WHERE rr.id = i.run_id AND rr.job_id = i.job_id) r ON true
 ORDER BY i.ord
