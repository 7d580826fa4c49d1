-- $1 source (NULL = all): counts by status, total, unresolved dead letters, and the queues flow
-- control pauses or limits (rows of mcp_jobs.queues).
SELECT jsonb_build_object(
         'source', $1::text,
         'queued', count(*) FILTER (WHERE status = 'queued'),
         'processing', count(*) FILTER (WHERE status = 'processing'),
         'completed', count(*) FILTER (WHERE status = 'completed'),
         'failed', count(*) FILTER (WHERE status = 'failed'),
         'cancelled', count(*) FILTER (WHERE status = 'cancelled'),
         'total', count(*),
         'dead_letter_unresolved', (SELECT count(*) FROM mcp_jobs.dead_letter_queue d
                                     WHERE NOT d.resolved AND ($1::text IS NULL OR d.source = $1)),
         'queues_paused', (SELECT count(*) FROM mcp_jobs.queues q
                            WHERE q.paused AND ($1::text IS NULL OR q.source = $1)),
         'queues_limited', (SELECT count(*) FROM mcp_jobs.queues q
                             WHERE (q.max_concurrency IS NOT NULL OR q.max_concurrency_per_key IS NOT NULL
                                    OR q.rate_limit IS NOT NULL OR q.max_queued IS NOT NULL)
                               AND ($1::text IS NULL OR q.source = $1)))
  FROM mcp_jobs.jobs
 WHERE $1::text IS NULL OR source = $1
