-- Cancellation, timeouts and the error history of jobs (issue 19).
--
-- timeout_ms: how long one attempt may run (NULL: no limit). The heartbeat
-- statement fails an attempt that ran longer, through the retry budget.
-- errors: the last 20 failed attempts, oldest first, each
--   {"message": text, "attempt": int, "worker": text|null, "at": timestamptz}
-- Both have defaults, so writers that do not know them (SoundHash's Python
-- layer) keep working. Adding them rewrites nothing (PostgreSQL 11+).

ALTER TABLE processing_jobs
  ADD COLUMN timeout_ms bigint
    CONSTRAINT processing_jobs_timeout_ms_check
    CHECK (timeout_ms IS NULL OR timeout_ms > 0),
  ADD COLUMN errors jsonb NOT NULL DEFAULT '[]'::jsonb;

-- p_errors with one more entry, keeping the last 20.
CREATE FUNCTION soundhash_push_job_error(p_errors jsonb, p_message text,
                                         p_attempt integer, p_worker text,
                                         p_at timestamptz)
  RETURNS jsonb LANGUAGE sql IMMUTABLE AS $fn$
  SELECT coalesce(jsonb_agg(e.value ORDER BY e.ord), '[]'::jsonb)
    FROM jsonb_array_elements(
           coalesce(p_errors, '[]'::jsonb)
           || jsonb_build_array(jsonb_build_object(
                'message', p_message, 'attempt', p_attempt,
                'worker', p_worker, 'at', p_at)))
         WITH ORDINALITY e (value, ord)
   WHERE e.ord > jsonb_array_length(coalesce(p_errors, '[]'::jsonb)) + 1 - 20
$fn$;

-- Migration 9's function with the timeout of the job it creates.
DROP FUNCTION soundhash_create_job_if_not_exists(text, text, text, text[],
                                                 integer, integer, bigint);
CREATE FUNCTION soundhash_create_job_if_not_exists(
    p_job_type text, p_target_id text, p_parameters text,
    p_check_statuses text[], p_priority integer DEFAULT 0,
    p_max_retries integer DEFAULT 3, p_delay_ms bigint DEFAULT 0,
    p_timeout_ms bigint DEFAULT NULL)
  RETURNS TABLE (created boolean, job processing_jobs)
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  found_job processing_jobs;
  refusals integer := 0;
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

  LOOP
    SELECT j.* INTO found_job FROM processing_jobs j
     WHERE j.job_type = p_job_type AND j.target_id = p_target_id
       AND j.status = ANY (p_check_statuses)
     ORDER BY j.id DESC LIMIT 1;
    IF FOUND THEN
      RETURN QUERY SELECT false, found_job;
      RETURN;
    END IF;

    INSERT INTO processing_jobs (job_type, target_id, parameters, priority,
                                 max_retries, run_at, timeout_ms)
    VALUES (p_job_type, p_target_id, p_parameters, p_priority, p_max_retries,
            now() + p_delay_ms * interval '1 millisecond', p_timeout_ms)
    ON CONFLICT DO NOTHING
    RETURNING * INTO found_job;
    IF FOUND THEN
      RETURN QUERY SELECT true, found_job;
      RETURN;
    END IF;

    -- A unique index refused it (see migration 9).
    SELECT j.* INTO found_job FROM processing_jobs j
     WHERE j.job_type = p_job_type AND j.target_id = p_target_id
       AND j.status IN ('pending', 'running')
     ORDER BY j.id DESC LIMIT 1;
    IF FOUND THEN
      RETURN QUERY SELECT false, found_job;
      RETURN;
    END IF;
    refusals := refusals + 1;
    IF refusals >= 3 THEN
      RAISE unique_violation USING MESSAGE = format(
        'a unique index on processing_jobs refused job (%s, %s)',
        p_job_type, p_target_id);
    END IF;
  END LOOP;
END
$fn$;
