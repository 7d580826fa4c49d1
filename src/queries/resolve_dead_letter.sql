-- $1 dead letter id (locked and open), $2 note. Closes it as 'resolved'.
WITH dl AS (
    UPDATE mcp_jobs.dead_letter_queue
       SET resolved = true, resolved_at = now(), resolution = 'resolved', resolution_note = $2
     WHERE id = $1
    RETURNING id, job_id, resolved_at, resolution_note
), ev AS (
    INSERT INTO mcp_jobs.job_events (job_id, event_type, data)
    SELECT dl.job_id, 'resolved', jsonb_build_object('dead_letter_id', dl.id, 'note', dl.resolution_note)
      FROM dl
     WHERE EXISTS (SELECT 1 FROM mcp_jobs.jobs j WHERE j.id = dl.job_id)
)
SELECT jsonb_build_object('id', id, 'job_id', job_id, 'resolved', true, 'resolution', 'resolved',
                          'resolved_at', resolved_at, 'resolution_note', resolution_note)
  FROM dl
