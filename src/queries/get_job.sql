-- $1 job id: the job with its runs (by attempt), events (in order) and dead letters.
SELECT to_jsonb(j)
       || jsonb_build_object(
            'runs', coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.started_at, r.id)
                                FROM mcp_jobs.job_runs r WHERE r.job_id = j.id), '[]'::jsonb),
            'events', coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.id)
                                  FROM mcp_jobs.job_events e WHERE e.job_id = j.id), '[]'::jsonb),
            'dead_letters', coalesce((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.failed_at)
                                        FROM mcp_jobs.dead_letter_queue d WHERE d.job_id = j.id),
                                     '[]'::jsonb))
  FROM mcp_jobs.jobs j
 WHERE j.id = $1
