-- Claims by job type (see domain/src/sql/claims.hpp). One index over all
-- types in claim order made a worker of a rare type walk past the whole
-- backlog of other types ahead of it; it is replaced by an index per type in
-- the same order. A claim for one type walks its type's index. A claim for
-- several merges their fronts in soundhash_lock_next_jobs, below, and locks
-- only the jobs it returns. Building the index blocks writes to
-- processing_jobs while the table is read once.

CREATE INDEX processing_jobs_claim_idx
  ON processing_jobs (job_type, priority, run_at, id) WHERE status = 'pending';
DROP INDEX processing_jobs_runnable_idx;

-- Locks and returns up to p_limit runnable pending jobs of the types in
-- p_types (distinct), in claim order (priority, run_at, id), skipping jobs
-- others have locked; every row it locks is returned, so concurrent claims
-- hold nothing they do not take. Each round reads, per type, the next `need`
-- candidates after that type's position (unlocked), merges them and keeps
-- the first `need`, locks those still pending and unlocked (SKIP LOCKED),
-- and moves each type's position past the candidates it gave. Usually one
-- round; another only when others held some candidates.
CREATE FUNCTION soundhash_lock_next_jobs(p_types text[], p_limit integer)
  RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  k        integer := cardinality(p_types);
  pos_pr   integer[] := array_fill(-2147483648, ARRAY[k]);
  pos_ra   timestamptz[] := array_fill('-infinity'::timestamptz, ARRAY[k]);
  pos_id   bigint[] := array_fill(0::bigint, ARRAY[k]);
  need     integer := p_limit;
  taken    bigint[] := '{}';
  locked   bigint[];
  seen     integer;
  moved_n  bigint[];
  moved_pr integer[];
  moved_ra timestamptz[];
  moved_id bigint[];
BEGIN
  WHILE need > 0 AND k > 0 LOOP
    WITH c AS (
      SELECT t.n, c.priority, c.run_at, c.id
        FROM unnest(p_types, pos_pr, pos_ra, pos_id) WITH ORDINALITY
               AS t(job_type, pr, ra, id, n)
        CROSS JOIN LATERAL (
          SELECT q.priority, q.run_at, q.id FROM processing_jobs q
           WHERE q.status = 'pending' AND q.job_type = t.job_type
             AND q.run_at <= now()
             AND (q.priority, q.run_at, q.id) > (t.pr, t.ra, t.id)
           ORDER BY q.priority, q.run_at, q.id LIMIT need) c
       ORDER BY c.priority, c.run_at, c.id LIMIT need),
    moved AS (
      SELECT DISTINCT ON (c.n) c.n, c.priority, c.run_at, c.id FROM c
       ORDER BY c.n, c.priority DESC, c.run_at DESC, c.id DESC)
    SELECT ARRAY (SELECT q.id FROM processing_jobs q
                   WHERE q.id = ANY (ARRAY (SELECT c.id FROM c))
                     AND q.status = 'pending' AND q.run_at <= now()
                     FOR UPDATE SKIP LOCKED),
           (SELECT count(*) FROM c),
           ARRAY (SELECT m.n FROM moved m), ARRAY (SELECT m.priority FROM moved m),
           ARRAY (SELECT m.run_at FROM moved m), ARRAY (SELECT m.id FROM moved m)
      INTO locked, seen, moved_n, moved_pr, moved_ra, moved_id;
    taken := taken || locked;
    EXIT WHEN seen < need;
    need := need - cardinality(locked);
    FOR i IN 1 .. cardinality(moved_n) LOOP
      pos_pr[moved_n[i]] := moved_pr[i];
      pos_ra[moved_n[i]] := moved_ra[i];
      pos_id[moved_n[i]] := moved_id[i];
    END LOOP;
  END LOOP;
  RETURN taken;
END
$fn$;
