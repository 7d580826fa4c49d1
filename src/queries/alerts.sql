-- $1 queue depth warning, $2 queue depth critical, $3 unresolved dead letters warning,
-- $4 unresolved dead letters critical, $5 success rate warning, $6 success rate critical,
-- $7 how long a queue may stay paused before a warning (seconds; 0: never).
-- One row per (source, metric) past a threshold, with the most severe level only. Comparisons are
-- strict, as in the MCP Jobs design ("> 100", "< 80%"):
--   queue_depth            queued + processing jobs of the source
--   dead_letter_unresolved unresolved rows of dead_letter_queue of the source
--   success_rate           completed / (completed + failed) of the source's jobs created in the
--                          last 7 days (the MCP Jobs design's success query); no row when none finished
--   queue_paused           seconds a row of mcp_jobs.queues has been paused (warning only)
WITH depth AS (
    SELECT source, count(*)::float8 AS value
      FROM (SELECT source FROM mcp_jobs.jobs WHERE status = 'queued'
            UNION ALL
            SELECT source FROM mcp_jobs.jobs WHERE status = 'processing') q
     GROUP BY source
), dlq AS (
    SELECT source, count(*)::float8 AS value
      FROM mcp_jobs.dead_letter_queue
     WHERE NOT resolved
     GROUP BY source
), rate AS (
    SELECT source,
           count(*) FILTER (WHERE status = 'completed')::float8
             / nullif(count(*) FILTER (WHERE status IN ('completed', 'failed')), 0) AS value,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed
      FROM mcp_jobs.jobs
     WHERE created_at > now() - interval '7 days'
     GROUP BY source
), paused AS (
    SELECT source, job_type, extract(epoch FROM now() - paused_at)::float8 AS value
      FROM mcp_jobs.queues
     WHERE paused AND paused_at IS NOT NULL AND $7 > 0 AND paused_at < now() - make_interval(secs => $7)
), checks AS (
    SELECT 'queue_depth' AS metric, source, value,
           CASE WHEN value > $2 THEN 'critical' WHEN value > $1 THEN 'warning' END AS level,
           CASE WHEN value > $2 THEN $2 ELSE $1 END::float8 AS threshold,
           format('%s jobs queued or processing for source %s', value, source) AS detail
      FROM depth
    UNION ALL
    SELECT 'dead_letter_unresolved', source, value,
           CASE WHEN value > $4 THEN 'critical' WHEN value > $3 THEN 'warning' END,
           CASE WHEN value > $4 THEN $4 ELSE $3 END::float8,
           format('%s unresolved dead letters for source %s', value, source)
      FROM dlq
    UNION ALL
    SELECT 'success_rate', source, value,
           CASE WHEN value < $6 THEN 'critical' WHEN value < $5 THEN 'warning' END,
           CASE WHEN value < $6 THEN $6 ELSE $5 END,
           format('success rate %s%% (%s completed, %s failed) of jobs created in the last 7 days for source %s',
                  round((value * 100)::numeric, 1), completed, failed, source)
      FROM rate
     WHERE value IS NOT NULL
    UNION ALL
    SELECT 'queue_paused', source, value, 'warning', $7::float8,
           format('queue %s/%s paused for %s s', source, coalesce(job_type, '*'), round(value::numeric))
      FROM paused
)
SELECT level, metric, source, value, threshold,
       CASE WHEN metric = 'success_rate'
            THEN format('%s: %s, below %s%%', level, detail, round((threshold * 100)::numeric, 1))
            ELSE format('%s: %s, above %s', level, detail, threshold) END AS message
  FROM checks
 WHERE level IS NOT NULL
 ORDER BY CASE level WHEN 'critical' THEN 0 ELSE 1 END, source, metric
