-- Partial indexes only their own queries can use. A query that finds a job
-- another way but also says its status matched the predicate of the index
-- of jobs in that status. When the statistics were taken while no job was in
-- it (an idle queue, then a burst), the planner found that index as cheap as
-- the right one and read all of it instead:
--  - heartbeat, complete, fail, release and the fused complete-and-claim
--    (`id = ... AND status = 'running'`) read every running job;
--  - the locking step of a claim over several types (`id = ANY (...) AND
--    status = 'pending'`) read every pending job;
--  - create_job_if_not_exists with check_statuses {"pending"} read every
--    pending job of its type.
-- Each new predicate adds conditions that are always true of the index's
-- rows and that only its own queries state. Claims, listings and the queue
-- lag state the pending index's predicate verbatim (domain/src/sql/). Rescue
-- compares the time the stale-job index is keyed on, which implies its
-- predicate (a comparison is never true of NULL), so rescue reads only the
-- stale jobs. Building the indexes blocks writes to processing_jobs while
-- the table is read, once per index; the old ones are dropped last, as
-- dropping takes a lock that blocks reads too (until the migration commits).
-- The extra conditions hold up on PostgreSQL 15, which this schema targets:
-- PostgreSQL 17 drops `col IS NOT NULL` of a NOT NULL column from queries,
-- and the listings that state it without implying it would lose the index.

CREATE INDEX processing_jobs_stale_idx
  ON processing_jobs ((coalesce(heartbeat_at, started_at, created_at)))
  WHERE status = 'running'
    AND coalesce(heartbeat_at, started_at, created_at) IS NOT NULL;
CREATE INDEX processing_jobs_pending_idx
  ON processing_jobs (job_type, priority, run_at, id)
  WHERE status = 'pending' AND job_type IS NOT NULL AND run_at IS NOT NULL;
DROP INDEX processing_jobs_running_idx;
DROP INDEX processing_jobs_claim_idx;
