-- Race-free idempotent job creation, in one round trip.
--
-- A plain "SELECT, then INSERT if absent" lets two transactions both see
-- nothing and both insert. Here creators of one (job_type, target_id) are
-- serialised on a row of soundhash_job_creation_locks:
--  1. A job already in p_check_statuses is returned at once (read only).
--  2. Otherwise the caller upserts the key's lock row. The row lock makes a
--     second creator wait until the first commits or rolls back.
--  3. It then looks again. At READ COMMITTED this statement takes a new
--     snapshot, so it sees a job committed by the creator it waited for. At
--     REPEATABLE READ / SERIALIZABLE the snapshot is older, but then step 2
--     already failed with SQLSTATE 40001 (the lock row was changed by a
--     transaction the snapshot cannot see), which Database::transact retries
--     with a fresh snapshot. Every creator takes step 2, so the isolation
--     levels of concurrent callers may differ.
--  4. Still none: insert the job (created = true).
-- Custom check_statuses work because nothing depends on a fixed status set.
-- Purging may delete lock rows (see 0005).

CREATE TABLE soundhash_job_creation_locks (
  job_type  varchar(50)  NOT NULL,
  target_id varchar(255) NOT NULL,
  PRIMARY KEY (job_type, target_id)
);

CREATE FUNCTION soundhash_create_job_if_not_exists(
    p_job_type text, p_target_id text, p_parameters text, p_check_statuses text[])
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

  INSERT INTO processing_jobs (job_type, target_id, parameters)
  VALUES (p_job_type, p_target_id, p_parameters)
  RETURNING * INTO found_job;
  RETURN QUERY SELECT true, found_job;
END
$fn$;
