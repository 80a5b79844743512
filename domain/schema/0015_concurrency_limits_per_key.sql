-- Concurrency limits per key (JobRepository::set_key_limit): at most
-- max_running_per_key jobs of a type with one concurrency_key run at once
-- (say 2 downloads per channel), across every worker and process.
--
-- processing_jobs.concurrency_key: the job's key (NewJob::concurrency_key);
-- NULL, the default, is no key and no per-key limit. Writers that do not know
-- it (SoundHash's Python layer) keep working.
--
-- Enforced in the claim: a claim of a type with a key limit takes
-- soundhash_lock_keyed_jobs below instead of the plain walk. It locks the
-- type's key-limit row (claims of that type take turns; other types never
-- wait for them), counts the type's running jobs per key in a statement of its
-- own (at READ COMMITTED its snapshot is taken after the lock, so it sees
-- every claim committed before), then walks the type's runnable jobs in
-- claim order, passing over jobs of keys at their limit (a saturated key
-- never holds back the others) and locking the rest one by one (SKIP
-- LOCKED) while room is left.

ALTER TABLE processing_jobs
  ADD COLUMN concurrency_key varchar(255)
    CONSTRAINT processing_jobs_concurrency_key_check
    CHECK (concurrency_key IS NULL OR concurrency_key <> '');

ALTER TABLE job_schedules
  ADD COLUMN concurrency_key varchar(255)
    CONSTRAINT job_schedules_concurrency_key_check
    CHECK (concurrency_key IS NULL OR concurrency_key <> '');

CREATE TABLE job_key_limits (
  job_type            varchar(50) PRIMARY KEY CHECK (job_type <> ''),
  max_running_per_key integer     NOT NULL CHECK (max_running_per_key >= 1),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The jobs a claim of p_types takes, at most p_limit, within every type limit
-- (soundhash_claim_room) and key limit; NULL if no type of p_types has a key
-- limit (the caller then claims the plain way). p_done: a job the same
-- statement completes, not counted as running. Locks in type order, the type
-- limit's row before the key limit's, as soundhash_lock_next_jobs does, so
-- claims of overlapping types cannot deadlock.
CREATE FUNCTION soundhash_lock_keyed_jobs(p_types text[], p_limit integer,
                                          p_done bigint DEFAULT NULL)
  RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  types   text[] := '{}';
  caps    integer[] := '{}';
  kcaps   integer[] := '{}';
  key_names text[];
  counts  integer[];
  taken   bigint[] := '{}';
  left_n  integer := 0;
  t       text;
  room    integer;
  kcap    integer;
  r       record;
  n       integer;
  k       text;
  i       integer;
  got     bigint;
  saturated text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM job_key_limits l
                  WHERE l.job_type = ANY (p_types)) THEN
    RETURN NULL;
  END IF;
  FOR t IN SELECT DISTINCT u.t FROM unnest(p_types) u (t) ORDER BY u.t LOOP
    room := soundhash_claim_room(t, p_limit, p_done);
    SELECT l.max_running_per_key INTO kcap FROM job_key_limits l
     WHERE l.job_type = t FOR UPDATE;
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
  -- Through the index of running jobs, as soundhash_claim_room counts.
  SELECT coalesce(array_agg(c.k), '{}'), coalesce(array_agg(c.n), '{}')
    INTO key_names, counts
    FROM (SELECT j.job_type || E'\n' || j.concurrency_key AS k,
                 count(*)::integer AS n
            FROM processing_jobs j
           WHERE j.status = 'running'
             AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL
             AND j.job_type = ANY (types) AND j.concurrency_key IS NOT NULL
             AND j.id IS DISTINCT FROM p_done
           GROUP BY 1) c;
  -- One type: its part of the pending index in claim order, read lazily.
  -- Several: the fronts of each (past the keys already at their limit),
  -- merged; a claim may then return fewer jobs than are runnable (in a
  -- front of many jobs of one key) and a later claim takes them.
  FOR r IN SELECT q.id, q.job_type, q.concurrency_key
             FROM processing_jobs q
            WHERE q.status = 'pending' AND q.job_type IS NOT NULL
              AND q.run_at IS NOT NULL
              AND q.job_type = types[1] AND q.run_at <= now()
              AND cardinality(types) = 1
            ORDER BY q.priority, q.run_at, q.id
  LOOP
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
    taken := taken || got;
    caps[n] := caps[n] - 1;
    IF k IS NOT NULL THEN
      IF i IS NULL THEN
        key_names := key_names || k;
        counts := counts || 1;
      ELSE
        counts[i] := counts[i] + 1;
      END IF;
    END IF;
    EXIT WHEN caps[n] <= 0 OR cardinality(taken) >= p_limit;
  END LOOP;
  IF cardinality(types) = 1 THEN
    RETURN taken;
  END IF;
  -- Keys at their limit already, so that each type's walk can pass over
  -- their jobs.
  saturated := ARRAY (
    SELECT key_names[x] FROM generate_subscripts(key_names, 1) x
     WHERE counts[x] >= kcaps[array_position(
             types, split_part(key_names[x], E'\n', 1))]);
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
    taken := taken || got;
    caps[n] := caps[n] - 1;
    left_n := left_n - 1;
    IF k IS NOT NULL THEN
      IF i IS NULL THEN
        key_names := key_names || k;
        counts := counts || 1;
      ELSE
        counts[i] := counts[i] + 1;
      END IF;
    END IF;
    EXIT WHEN left_n <= 0 OR cardinality(taken) >= p_limit;
  END LOOP;
  RETURN taken;
END
$fn$;

-- Migration 13's function with the concurrency key of the job it creates.
DROP FUNCTION soundhash_create_job_if_not_exists(text, text, text, text[],
                                                 integer, integer, bigint,
                                                 bigint);
CREATE FUNCTION soundhash_create_job_if_not_exists(
    p_job_type text, p_target_id text, p_parameters text,
    p_check_statuses text[], p_priority integer DEFAULT 0,
    p_max_retries integer DEFAULT 3, p_delay_ms bigint DEFAULT 0,
    p_timeout_ms bigint DEFAULT NULL, p_concurrency_key text DEFAULT NULL)
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
                                 max_retries, run_at, timeout_ms,
                                 concurrency_key)
    VALUES (p_job_type, p_target_id, p_parameters, p_priority, p_max_retries,
            now() + p_delay_ms * interval '1 millisecond', p_timeout_ms,
            p_concurrency_key)
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
