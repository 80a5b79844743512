-- JobRepository::purge_finished_jobs in one call: deletes finished jobs past
-- a retention, then the creation-lock rows (see 0002) of keys left with no
-- job at all, so that table does not keep a row per key ever created.
-- Safe beside creators at every isolation level:
--  - it locks the purged keys' lock rows, skipping any a creator holds; a
--    creator needs that row to create a job, so no job for those keys can be
--    made until this transaction ends;
--  - the statement that deletes them takes a new snapshot (a VOLATILE
--    function does, at READ COMMITTED) after the rows were locked, so it sees
--    every job whose creator had the row before; a row changed since a
--    REPEATABLE READ caller's snapshot already failed with 40001 when it was
--    locked;
--  - a creator whose older snapshot predates a lock row made after the purge
--    fails at step 2 with 40001, as for any lock row it cannot see.
-- One function, not two statements from the client: the rows stay locked
-- for one server call, not across round trips.

CREATE FUNCTION soundhash_purge_finished_jobs(p_older_than_ms bigint,
                                              p_max_jobs integer)
  RETURNS TABLE (purged_jobs bigint, dropped_locks bigint)
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  ids          bigint[];
  gone_types   text[];
  gone_targets text[];
  held_types   text[];
  held_targets text[];
BEGIN
  -- Ids and keys travel in arrays so that every step is an index lookup
  -- (= ANY, or a join on an unnest): the cost of a call follows max_jobs,
  -- not the size of the tables.
  SELECT array_agg(o.id) INTO ids
    FROM (SELECT o.id FROM processing_jobs o
           WHERE o.status IN ('completed', 'failed', 'cancelled')
             AND coalesce(o.completed_at, o.created_at)
                 < now() - p_older_than_ms * interval '1 millisecond'
           ORDER BY o.id LIMIT p_max_jobs FOR UPDATE SKIP LOCKED) o;
  WITH gone AS (DELETE FROM processing_jobs j WHERE j.id = ANY (ids)
                RETURNING j.job_type, j.target_id)
  SELECT count(*), array_agg(g.job_type), array_agg(g.target_id)
    INTO purged_jobs, gone_types, gone_targets FROM gone g;

  SELECT array_agg(l.job_type), array_agg(l.target_id)
    INTO held_types, held_targets
    FROM (SELECT l.job_type, l.target_id
            FROM (SELECT DISTINCT k.job_type, k.target_id
                    FROM unnest(gone_types, gone_targets)
                         AS k(job_type, target_id)) k
            JOIN soundhash_job_creation_locks l
              ON l.job_type = k.job_type AND l.target_id = k.target_id
             FOR UPDATE OF l SKIP LOCKED) l;

  DELETE FROM soundhash_job_creation_locks l
   USING unnest(held_types, held_targets) AS k(job_type, target_id)
   WHERE l.job_type = k.job_type AND l.target_id = k.target_id
     AND NOT EXISTS (SELECT 1 FROM processing_jobs j
                      WHERE j.job_type = l.job_type
                        AND j.target_id = l.target_id);
  GET DIAGNOSTICS dropped_locks = ROW_COUNT;
  RETURN NEXT;
END
$fn$;
