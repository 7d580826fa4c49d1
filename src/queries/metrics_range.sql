-- $1 p_from (NULL = start of the previous hour), $2 p_to (NULL = now()).
-- The whole UTC hours the range touches: [lo, hi) with lo = the hour of p_from and hi = the end of
-- the hour of p_to (p_to itself when it is on an hour boundary). Also returns what the caller
-- validates: whether p_from > p_to and whether the range is longer than $3 days.
WITH r AS (
    SELECT coalesce($1, date_trunc('hour', now(), 'UTC') - interval '1 hour') AS p_from,
           coalesce($2, now()) AS p_to
)
SELECT date_trunc('hour', p_from, 'UTC') AS lo,
       CASE WHEN date_trunc('hour', p_to, 'UTC') = p_to THEN p_to
            ELSE date_trunc('hour', p_to, 'UTC') + interval '1 hour' END AS hi,
       p_from > p_to AS reversed,
       p_to - date_trunc('hour', p_from, 'UTC') > make_interval(days => $3) AS too_long,
       p_from::text AS from_text,
       p_to::text AS to_text
  FROM r
