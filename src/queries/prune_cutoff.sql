-- $1 retention in seconds (> 0). The pruning cutoff: now() - retention, but never later than the
-- metrics' watermark (the events of a pruned job must have been added to the metrics first), and,
-- before maintenance has rolled the metrics forward once, never later than the start of the
-- previous hour (the hours its first round recomputes). Returned as timestamptz and as ISO 8601 text.
WITH c AS (
    SELECT least(now() - make_interval(secs => $1),
                 coalesce((SELECT metrics_through FROM mcp_jobs.maintenance_state),
                          date_trunc('hour', now(), 'UTC') - interval '1 hour')) AS cutoff
)
SELECT cutoff, to_json(cutoff) #>> '{}' FROM c
