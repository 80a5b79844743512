-- Job creation that keeps working when an operator makes a second active job
-- impossible for every client, with the optional index of the guide's
-- migration page ("Racing creators"):
--
--   CREATE UNIQUE INDEX CONCURRENTLY processing_jobs_one_active_idx
--     ON processing_jobs (job_type, target_id)
--     WHERE status IN ('pending', 'running');
--
-- The schema does not create that index itself: it would refuse what the
-- API allows (create_job inserts unconditionally, and custom check_statuses
-- may create a job beside an active one). Without the index this function
-- behaves as migration 3's. With it, a creator that does not take our lock
-- row (SoundHash's Python layer) can commit an active job between our check
-- and our insert; the insert then yields (ON CONFLICT DO NOTHING) instead of
-- failing with a unique violation, and the function returns that job with
-- created = false. At REPEATABLE READ or SERIALIZABLE the yielding insert
-- fails with SQLSTATE 40001 when the conflicting job is newer than the
-- snapshot, which Database::transact retries.

CREATE OR REPLACE FUNCTION soundhash_create_job_if_not_exists(
    p_job_type text, p_target_id text, p_parameters text,
    p_check_statuses text[], p_priority integer DEFAULT 0,
    p_max_retries integer DEFAULT 3, p_delay_ms bigint DEFAULT 0)
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
                                 max_retries, run_at)
    VALUES (p_job_type, p_target_id, p_parameters, p_priority, p_max_retries,
            now() + p_delay_ms * interval '1 millisecond')
    ON CONFLICT DO NOTHING
    RETURNING * INTO found_job;
    IF FOUND THEN
      RETURN QUERY SELECT true, found_job;
      RETURN;
    END IF;

    -- A unique index refused it: with the active-job index, an active job
    -- exists (committed: the insert waited for its creator). Return it; if
    -- it finished in the meantime, go round again. Another unique index
    -- that an operator added would refuse every round: say so.
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
