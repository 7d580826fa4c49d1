-- $1 resolved (NULL = both). Dead letters grouped by source, job type and error: the error's first
-- line, at most 200 characters, so that the same failure with different details groups together.
SELECT source, job_type, left(split_part(coalesce(last_error, ''), E'\n', 1), 200) AS error,
       count(*) AS dead_letters, min(failed_at) AS first_failed_at, max(failed_at) AS last_failed_at,
       (array_agg(id ORDER BY id DESC))[1:100] AS ids
  FROM mcp_jobs.dead_letter_queue
 WHERE $1::boolean IS NULL OR resolved = $1
 GROUP BY 1, 2, 3
 ORDER BY count(*) DESC, max(failed_at) DESC, 1, 2, 3
