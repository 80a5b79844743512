-- Concurrency limits per job type (JobRepository::set_type_limit): never more
-- than max_running jobs of a limited type running at once, across every
-- worker and process. Enforced in the claim (domain/src/sql/claims.hpp):
-- a claim of a limited type locks that type's row below, then counts the
-- type's running jobs in a statement of its own (so, at READ COMMITTED, with
-- a snapshot taken after the lock: it sees every claim committed before),
-- and claims at most the room left. The lock is held until the claim
-- commits, so claims of one limited type take turns; claims of an unlimited
-- type read the table and lock nothing, and different types never wait for
-- each other.

CREATE TABLE job_type_limits (
  job_type    varchar(50) PRIMARY KEY CHECK (job_type <> ''),
  max_running integer     NOT NULL CHECK (max_running >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- How many jobs of p_type a claim may take, at most p_want: p_want for an
-- unlimited type; for a limited one, its row locked until the transaction
-- ends, max_running less the jobs running now (not counting p_done, a job
-- the same statement completes), never below 0.
CREATE FUNCTION soundhash_claim_room(p_type text, p_want integer,
                                     p_done bigint DEFAULT NULL)
  RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  cap     integer;
  running bigint;
BEGIN
  SELECT l.max_running INTO cap FROM job_type_limits l
   WHERE l.job_type = p_type FOR UPDATE;
  IF NOT FOUND THEN
    RETURN p_want;
  END IF;
  -- Through the index of running jobs (migration 7's stale-job index, its
  -- predicate stated): running jobs are few, bounded by the workers. An
  -- index of its own would cost every claim of every type an insert into
  -- one hot page (all its keys alike).
  SELECT count(*) INTO running FROM processing_jobs j
   WHERE j.status = 'running'
     AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL
     AND j.job_type = p_type AND j.id IS DISTINCT FROM p_done;
  RETURN greatest(0, least(p_want::bigint, cap - running))::integer;
END
$fn$;

-- Migration 6's merge of several types' fronts, now within each type's
-- room: the rooms are taken first, in type order (so that two claims of
-- overlapping limited types cannot deadlock), types without room are left
-- out, and no round takes more candidates of a type than its room left. A
-- claim may then return fewer jobs than are runnable (a later claim takes
-- them), never more than the limits allow.
DROP FUNCTION soundhash_lock_next_jobs(text[], integer);
CREATE FUNCTION soundhash_lock_next_jobs(p_types text[], p_limit integer,
                                         p_done bigint DEFAULT NULL)
  RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  types    text[] := '{}';
  caps     integer[] := '{}';
  k        integer;
  pos_pr   integer[];
  pos_ra   timestamptz[];
  pos_id   bigint[];
  need     integer := p_limit;
  taken    bigint[] := '{}';
  locked   bigint[];
  locked_n integer[];
  seen     integer;
  moved_n  bigint[];
  moved_pr integer[];
  moved_ra timestamptz[];
  moved_id bigint[];
  t        text;
  room     integer;
  ni       integer;
BEGIN
  FOR t IN SELECT DISTINCT u.t FROM unnest(p_types) u (t) ORDER BY u.t LOOP
    room := soundhash_claim_room(t, p_limit, p_done);
    IF room > 0 THEN
      types := types || t;
      caps := caps || room;
    END IF;
  END LOOP;
  k := cardinality(types);
  pos_pr := array_fill(-2147483648, ARRAY[k]);
  pos_ra := array_fill('-infinity'::timestamptz, ARRAY[k]);
  pos_id := array_fill(0::bigint, ARRAY[k]);
  WHILE need > 0 AND k > 0 LOOP
    WITH f AS (
      SELECT t.n, f.priority, f.run_at, f.id
        FROM unnest(types, pos_pr, pos_ra, pos_id, caps) WITH ORDINALITY
               AS t(job_type, pr, ra, id, cap, n)
        CROSS JOIN LATERAL (
          SELECT q.priority, q.run_at, q.id FROM processing_jobs q
           WHERE q.status = 'pending' AND q.job_type = t.job_type
             AND q.run_at <= now()
             AND (q.priority, q.run_at, q.id) > (t.pr, t.ra, t.id)
           ORDER BY q.priority, q.run_at, q.id LIMIT need) f
       WHERE t.cap > 0),
    c AS (
      SELECT f.n, f.priority, f.run_at, f.id
        FROM (SELECT f.*, row_number() OVER (
                       PARTITION BY f.n ORDER BY f.priority, f.run_at, f.id)
                     AS r
                FROM f) f
       WHERE f.r <= caps[f.n]
       ORDER BY f.priority, f.run_at, f.id LIMIT need),
    moved AS (
      SELECT DISTINCT ON (c.n) c.n, c.priority, c.run_at, c.id FROM c
       ORDER BY c.n, c.priority DESC, c.run_at DESC, c.id DESC),
    l AS (
      SELECT q.id FROM processing_jobs q
       WHERE q.id = ANY (ARRAY (SELECT c.id FROM c))
         AND q.status = 'pending' AND q.run_at <= now()
         FOR UPDATE SKIP LOCKED)
    SELECT ARRAY (SELECT l.id FROM l),
           ARRAY (SELECT c.n FROM c JOIN l ON l.id = c.id),
           (SELECT count(*) FROM c),
           ARRAY (SELECT m.n FROM moved m), ARRAY (SELECT m.priority FROM moved m),
           ARRAY (SELECT m.run_at FROM moved m), ARRAY (SELECT m.id FROM moved m)
      INTO locked, locked_n, seen, moved_n, moved_pr, moved_ra, moved_id;
    taken := taken || locked;
    EXIT WHEN seen < need;
    need := need - cardinality(locked);
    FOREACH ni IN ARRAY locked_n LOOP
      caps[ni] := caps[ni] - 1;
    END LOOP;
    FOR i IN 1 .. cardinality(moved_n) LOOP
      pos_pr[moved_n[i]] := moved_pr[i];
      pos_ra[moved_n[i]] := moved_ra[i];
      pos_id[moved_n[i]] := moved_id[i];
    END LOOP;
  END LOOP;
  RETURN taken;
END
$fn$;
