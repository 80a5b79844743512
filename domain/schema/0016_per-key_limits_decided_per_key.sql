-- Per-key limits decided per key. Migration 15's claim of a key-limited type
-- locked the type's key-limit row until its commit, so every claim of the
-- type took turns, whatever its key: with 2 to 4 workers a key-limited type
-- drained at about a fifth of an unlimited one. Now a claim decides each key
-- under a transaction-level advisory lock of that key alone (type and key
-- hashed), so claims of different keys run side by side.
--
-- Race-free as before: two claims of one key take turns on its advisory lock,
-- and the running jobs of the key are counted after the lock is held, in a
-- statement with a snapshot of its own (READ COMMITTED), which sees every
-- claim of the key committed before (a transaction's locks are released
-- only after its commit is visible).
--
-- No deadlocks: a claim waits for a key's lock only while it holds no other
-- key's lock (the first key it decides); for every further key it only tries,
-- and passes over that key's jobs if another claim is deciding it, as SKIP
-- LOCKED passes over a locked job. It locks a candidate job (SKIP LOCKED)
-- before deciding the job's key, so claims do not queue up behind the key of
-- a job another claim has already taken.
--
-- A claim of one type walks its pending jobs a page of 32 at a time: a loop
-- over a query without a LIMIT is planned to read them all, and the planner
-- then sometimes sorted every pending job of the type on every claim.
--
-- Counts of running jobs read the running jobs first (a MATERIALIZED CTE,
-- through migration 7's index of running jobs) and filter them after. Asked
-- for one type's running jobs directly, the planner could take the index on
-- (job_type, target_id, status) and read every job of the type ever kept: a
-- generic plan of soundhash_claim_room's count did, and limited types
-- drained at a third of their speed in some runs and not in others.

-- Migration 12's room of a type, with its count as described above.
CREATE OR REPLACE FUNCTION soundhash_claim_room(p_type text, p_want integer,
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
  WITH r AS MATERIALIZED (
    SELECT j.id, j.job_type FROM processing_jobs j
     WHERE j.status = 'running'
       AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL)
  SELECT count(*) INTO running FROM r
   WHERE r.job_type = p_type AND r.id IS DISTINCT FROM p_done;
  RETURN greatest(0, least(p_want::bigint, cap - running))::integer;
END
$fn$;

-- The running jobs of key p_key of type p_type, p_done not counted (a job
-- the same statement completes), once this transaction holds the key's
-- advisory lock: waiting for it when p_wait, else NULL if another
-- transaction holds it.
CREATE FUNCTION soundhash_key_running(p_type text, p_key text, p_done bigint,
                                      p_wait boolean)
  RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  n integer;
BEGIN
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock(hashtext(p_type), hashtext(p_key));
  ELSIF NOT pg_try_advisory_xact_lock(hashtext(p_type), hashtext(p_key)) THEN
    RETURN NULL;
  END IF;
  WITH r AS MATERIALIZED (
    SELECT j.id, j.job_type, j.concurrency_key FROM processing_jobs j
     WHERE j.status = 'running'
       AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL)
  SELECT count(*)::integer INTO n FROM r
   WHERE r.job_type = p_type AND r.concurrency_key = p_key
     AND r.id IS DISTINCT FROM p_done;
  RETURN n;
END
$fn$;

-- The jobs a claim of p_types takes, at most p_limit, within every type limit
-- (soundhash_claim_room) and key limit; NULL if no type of p_types has a key
-- limit (the caller then claims the plain way). p_done: a job the same
-- statement completes, not counted as running. Type limits' rows are locked
-- first, in type order, as soundhash_lock_next_jobs does.
CREATE OR REPLACE FUNCTION soundhash_lock_keyed_jobs(p_types text[],
                                                     p_limit integer,
                                                     p_done bigint DEFAULT NULL)
  RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  types     text[] := '{}';
  caps      integer[] := '{}';
  kcaps     integer[] := '{}';
  -- Keys decided in this call, and their running jobs (this claim's
  -- included); a key another claim is deciding counts as full.
  key_names text[] := '{}';
  counts    integer[] := '{}';
  taken     bigint[] := '{}';
  left_n    integer := 0;
  t         text;
  room      integer;
  kcap      integer;
  r         record;
  n         integer;
  k         text;
  i         integer;
  got       bigint;
  running   integer;
  saturated text[] := '{}';
  -- The walk's position: below every job (ids start at 1).
  last_pr   integer := -2147483648;
  last_at   timestamptz := '-infinity';
  last_id   bigint := 0;
  seen      integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM job_key_limits l
                  WHERE l.job_type = ANY (p_types)) THEN
    RETURN NULL;
  END IF;
  FOR t IN SELECT DISTINCT u.t FROM unnest(p_types) u (t) ORDER BY u.t LOOP
    room := soundhash_claim_room(t, p_limit, p_done);
    SELECT l.max_running_per_key INTO kcap FROM job_key_limits l
     WHERE l.job_type = t;
    IF NOT FOUND THEN
      kcap := NULL;
    END IF;
    IF room > 0 THEN
      types := types || t;
      caps := caps || room;
      kcaps := kcaps || kcap;
      left_n := left_n + room;
    END IF;
  END LOOP;
  IF left_n = 0 THEN
    RETURN taken;
  END IF;
  IF cardinality(types) > 1 THEN
    -- Several types: each type's front is read past the keys at their limit
    -- (by a count taken without their locks: it only narrows the fronts,
    -- each key is decided in the walk). A claim may then return fewer jobs
    -- than are runnable (in a front of many jobs of one key) and a later
    -- claim takes them.
    saturated := ARRAY (
      WITH live AS MATERIALIZED (
        SELECT j.id, j.job_type, j.concurrency_key FROM processing_jobs j
         WHERE j.status = 'running'
           AND coalesce(j.heartbeat_at, j.started_at, j.created_at)
               IS NOT NULL)
      SELECT c.k
        FROM (SELECT live.job_type || E'\n' || live.concurrency_key AS k,
                     live.job_type, count(*) AS n
                FROM live
               WHERE live.job_type = ANY (types)
                 AND live.concurrency_key IS NOT NULL
                 AND live.id IS DISTINCT FROM p_done
               GROUP BY 1, 2) c
       WHERE c.n >= kcaps[array_position(types, c.job_type::text)]);
  END IF;
  -- One type: its part of the pending index in claim order, a page of 32 at
  -- a time, each page after the last job seen. A LIMIT keeps the walk on the
  -- index: a loop over a query without one is planned to read every pending
  -- job, and the planner may then sort them all, on every claim (it did,
  -- in some runs: 12 ms a claim behind 19,000 pending jobs).
  <<walk>>
  LOOP
    EXIT walk WHEN cardinality(types) <> 1;
    seen := 0;
    FOR r IN SELECT q.id, q.job_type, q.concurrency_key, q.priority, q.run_at
               FROM processing_jobs q
              WHERE q.status = 'pending' AND q.job_type IS NOT NULL
                AND q.run_at IS NOT NULL
                AND q.job_type = types[1] AND q.run_at <= now()
                AND (q.priority, q.run_at, q.id) > (last_pr, last_at, last_id)
              ORDER BY q.priority, q.run_at, q.id
              LIMIT 32
    LOOP
      seen := seen + 1;
      last_pr := r.priority;
      last_at := r.run_at;
      last_id := r.id;
      n := 1;
      k := NULL;
      IF kcaps[n] IS NOT NULL AND r.concurrency_key IS NOT NULL THEN
        k := r.job_type || E'\n' || r.concurrency_key;
        i := array_position(key_names, k);
        CONTINUE WHEN i IS NOT NULL AND counts[i] >= kcaps[n];
      END IF;
      got := NULL;
      SELECT q.id INTO got FROM processing_jobs q
       WHERE q.id = r.id AND q.status = 'pending' AND q.run_at <= now()
         FOR UPDATE SKIP LOCKED;
      CONTINUE WHEN got IS NULL;
      IF k IS NOT NULL AND i IS NULL THEN
        running := soundhash_key_running(r.job_type, r.concurrency_key,
                                         p_done, cardinality(key_names) = 0);
        key_names := key_names || k;
        counts := counts || coalesce(running, kcaps[n]);
        i := cardinality(key_names);
        CONTINUE WHEN counts[i] >= kcaps[n];
      END IF;
      taken := taken || got;
      caps[n] := caps[n] - 1;
      IF k IS NOT NULL THEN
        counts[i] := counts[i] + 1;
      END IF;
      EXIT walk WHEN caps[n] <= 0 OR cardinality(taken) >= p_limit;
    END LOOP;
    EXIT walk WHEN seen < 32;
  END LOOP walk;
  IF cardinality(types) = 1 THEN
    RETURN taken;
  END IF;
  FOR r IN SELECT c.id, c.job_type, c.concurrency_key
             FROM unnest(types, kcaps) AS tk (job_type, kcap)
            CROSS JOIN LATERAL (
                  SELECT q.id, q.job_type, q.concurrency_key, q.priority,
                         q.run_at
                    FROM processing_jobs q
                   WHERE q.status = 'pending' AND q.job_type IS NOT NULL
                     AND q.run_at IS NOT NULL
                     AND q.job_type = tk.job_type AND q.run_at <= now()
                     AND (tk.kcap IS NULL OR q.concurrency_key IS NULL
                          OR NOT (q.job_type || E'\n' || q.concurrency_key
                                  = ANY (saturated)))
                   ORDER BY q.priority, q.run_at, q.id
                   LIMIT p_limit * 4 + 16) c
            ORDER BY c.priority, c.run_at, c.id
  LOOP
    n := array_position(types, r.job_type::text);
    CONTINUE WHEN caps[n] <= 0;
    k := NULL;
    IF kcaps[n] IS NOT NULL AND r.concurrency_key IS NOT NULL THEN
      k := r.job_type || E'\n' || r.concurrency_key;
      i := array_position(key_names, k);
      CONTINUE WHEN i IS NOT NULL AND counts[i] >= kcaps[n];
    END IF;
    got := NULL;
    SELECT q.id INTO got FROM processing_jobs q
     WHERE q.id = r.id AND q.status = 'pending' AND q.run_at <= now()
       FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN got IS NULL;
    IF k IS NOT NULL AND i IS NULL THEN
      running := soundhash_key_running(r.job_type, r.concurrency_key, p_done,
                                       cardinality(key_names) = 0);
      key_names := key_names || k;
      counts := counts || coalesce(running, kcaps[n]);
      i := cardinality(key_names);
      CONTINUE WHEN counts[i] >= kcaps[n];
    END IF;
    taken := taken || got;
    caps[n] := caps[n] - 1;
    left_n := left_n - 1;
    IF k IS NOT NULL THEN
      counts[i] := counts[i] + 1;
    END IF;
    EXIT WHEN left_n <= 0 OR cardinality(taken) >= p_limit;
  END LOOP;
  RETURN taken;
END
$fn$;
