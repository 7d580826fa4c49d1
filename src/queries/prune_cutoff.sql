-- $1 retention in seconds (> 0). The pruning cutoff: now() - retention, but never later than the
-- start of the previous hour, so the jobs behind the metrics maintenance recomputes are kept.
-- Returned as timestamptz and as ISO 8601 text.
WITH c AS (
    SELECT least(now() - make_interval(secs => $1),
                 date_trunc('hour', now(), 'UTC') - interval '1 hour') AS cutoff
)
SELECT cutoff, to_json(cutoff) #>> '{}' FROM c
