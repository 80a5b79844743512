-- processing_jobs as a work queue (see JobRepository::claim_next_job and
-- JobListener).
--  - Claim order is (priority, run_at, id) among pending jobs whose run_at
--    has come. The index is in exactly that order, so a claim reads its front
--    and stops at the first job of a wanted type that nobody holds, with no
--    sort whatever the backlog (an index led by job_type could not serve
--    `job_type = ANY (...)` in order). It is partial, holding only pending
--    jobs, so finished ones (the bulk of the table over time) cost the queue
--    nothing. 0006 replaces it with an index per job type.
--  - Rescue looks at running jobs by heartbeat: another small partial index
--    (replaced in 0007).
--  - New jobs and jobs going back to pending NOTIFY channel soundhash_jobs
--    with the job type as payload. NOTIFY is transactional: listeners hear it
--    only when the creating transaction commits. Inserts notify once per
--    statement and job type, however many rows; re-queues are rare and
--    notify per row.

ALTER TABLE processing_jobs
  ADD COLUMN priority     integer      NOT NULL DEFAULT 0,
  ADD COLUMN run_at       timestamptz  NOT NULL DEFAULT now(),
  ADD COLUMN attempts     integer      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN locked_by    varchar(255),
  ADD COLUMN heartbeat_at timestamptz;
UPDATE processing_jobs SET run_at = created_at,
       heartbeat_at = CASE WHEN status = 'running'
                           THEN coalesce(started_at, created_at) END;

DROP INDEX processing_jobs_queue_idx;
CREATE INDEX processing_jobs_runnable_idx
  ON processing_jobs (priority, run_at, id) WHERE status = 'pending';
CREATE INDEX processing_jobs_running_idx
  ON processing_jobs (heartbeat_at) WHERE status = 'running';

-- Migration 2's function, now also taking a new job's priority, retry
-- budget and delay (defaults as the columns', so older callers still work).
DROP FUNCTION soundhash_create_job_if_not_exists(text, text, text, text[]);
CREATE FUNCTION soundhash_create_job_if_not_exists(
    p_job_type text, p_target_id text, p_parameters text,
    p_check_statuses text[], p_priority integer DEFAULT 0,
    p_max_retries integer DEFAULT 3, p_delay_ms bigint DEFAULT 0)
  RETURNS TABLE (created boolean, job processing_jobs)
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  found_job processing_jobs;
BEGIN
  SELECT j.* INTO found_job FROM processing_jobs j
   WHERE j.job_type = p_job_type AND j.target_id = p_target_id
     AND j.status = ANY (p_check_statuses)
   ORDER BY j.id DESC LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT false, found_job;
    RETURN;
  END IF;

  INSERT INTO soundhash_job_creation_locks AS l (job_type, target_id)
  VALUES (p_job_type, p_target_id)
  ON CONFLICT (job_type, target_id) DO UPDATE SET job_type = l.job_type;

  SELECT j.* INTO found_job FROM processing_jobs j
   WHERE j.job_type = p_job_type AND j.target_id = p_target_id
     AND j.status = ANY (p_check_statuses)
   ORDER BY j.id DESC LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT false, found_job;
    RETURN;
  END IF;

  INSERT INTO processing_jobs (job_type, target_id, parameters, priority,
                               max_retries, run_at)
  VALUES (p_job_type, p_target_id, p_parameters, p_priority, p_max_retries,
          now() + p_delay_ms * interval '1 millisecond')
  RETURNING * INTO found_job;
  RETURN QUERY SELECT true, found_job;
END
$fn$;

CREATE FUNCTION soundhash_notify_new_jobs() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('soundhash_jobs', t.job_type)
     FROM (SELECT DISTINCT n.job_type FROM new_jobs n
            WHERE n.status = 'pending') t;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER soundhash_jobs_inserted AFTER INSERT ON processing_jobs
  REFERENCING NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION soundhash_notify_new_jobs();

CREATE FUNCTION soundhash_notify_requeued_job() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('soundhash_jobs', NEW.job_type);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER soundhash_jobs_requeued AFTER UPDATE OF status ON processing_jobs
  FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
  EXECUTE FUNCTION soundhash_notify_requeued_job();
