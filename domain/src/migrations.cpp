// SoundHash's schema, as versioned migrations compiled into the library.
// Append new migrations; never edit one that has shipped.

#include "soundhash/db/migrations.hpp"

namespace soundhash::db {
namespace {

constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE channels (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel_id       varchar(64)  NOT NULL UNIQUE,
  channel_name     varchar(255),
  description      text,
  subscriber_count bigint CHECK (subscriber_count >= 0),
  video_count      bigint CHECK (video_count >= 0),
  is_active        boolean      NOT NULL DEFAULT true,
  created_at       timestamptz  NOT NULL DEFAULT now(),
  updated_at       timestamptz  NOT NULL DEFAULT now(),
  last_processed   timestamptz
);

CREATE TABLE videos (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  video_id             varchar(64)  NOT NULL UNIQUE,
  channel_id           bigint       NOT NULL REFERENCES channels (id),
  title                varchar(500),
  description          text,
  duration             double precision CHECK (duration >= 0),
  view_count           bigint CHECK (view_count >= 0),
  like_count           bigint CHECK (like_count >= 0),
  upload_date          timestamptz,
  url                  varchar(500),
  thumbnail_url        varchar(500),
  processed            boolean      NOT NULL DEFAULT false,
  processing_started   timestamptz,
  processing_completed timestamptz,
  processing_error     text,
  created_at           timestamptz  NOT NULL DEFAULT now(),
  updated_at           timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX videos_channel_idx ON videos (channel_id);
CREATE INDEX videos_unprocessed_idx ON videos (created_at, id) WHERE NOT processed;

CREATE TABLE audio_fingerprints (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  video_id         bigint       NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  start_time       double precision NOT NULL CHECK (start_time >= 0),
  end_time         double precision NOT NULL,
  fingerprint_hash varchar(64)  NOT NULL,
  fingerprint_data bytea        NOT NULL,
  confidence_score double precision CHECK (confidence_score BETWEEN 0 AND 1),
  peak_count       integer CHECK (peak_count >= 0),
  sample_rate      integer CHECK (sample_rate > 0),
  segment_length   double precision CHECK (segment_length > 0),
  created_at       timestamptz  NOT NULL DEFAULT now(),
  CHECK (end_time >= start_time)
);
CREATE INDEX audio_fingerprints_hash_idx ON audio_fingerprints (fingerprint_hash);
CREATE INDEX audio_fingerprints_video_idx ON audio_fingerprints (video_id, start_time);

CREATE TABLE match_results (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  query_fingerprint_id   bigint NOT NULL REFERENCES audio_fingerprints (id) ON DELETE CASCADE,
  matched_fingerprint_id bigint NOT NULL REFERENCES audio_fingerprints (id) ON DELETE CASCADE,
  similarity_score       double precision NOT NULL CHECK (similarity_score BETWEEN 0 AND 1),
  match_confidence       double precision CHECK (match_confidence BETWEEN 0 AND 1),
  query_source           varchar(50),
  query_url              varchar(500),
  query_user             varchar(100),
  created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX match_results_query_idx ON match_results (query_fingerprint_id, similarity_score DESC);

CREATE TABLE processing_jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_type      varchar(50)  NOT NULL,
  status        varchar(20)  NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  target_id     varchar(255) NOT NULL,
  parameters    text,
  progress      double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  current_step  varchar(255),
  created_at    timestamptz  NOT NULL DEFAULT now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  error_message text,
  retry_count   integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  max_retries   integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0)
);
CREATE INDEX processing_jobs_target_idx ON processing_jobs (job_type, target_id, status);
CREATE INDEX processing_jobs_queue_idx ON processing_jobs (status, job_type, created_at, id);
)sql";

// Race-free idempotent job creation, in one round trip.
//
// A plain "SELECT, then INSERT if absent" lets two transactions both see
// nothing and both insert. Here creators of one (job_type, target_id) are
// serialised on a row of soundhash_job_creation_locks:
//  1. A job already in p_check_statuses is returned at once (read only).
//  2. Otherwise the caller upserts the key's lock row. The row lock makes a
//     second creator wait until the first commits or rolls back.
//  3. It then looks again. At READ COMMITTED this statement takes a new
//     snapshot, so it sees a job committed by the creator it waited for. At
//     REPEATABLE READ / SERIALIZABLE the snapshot is older, but then step 2
//     already failed with SQLSTATE 40001 (the lock row was changed by a
//     transaction the snapshot cannot see), which Database::transact retries
//     with a fresh snapshot. Every creator takes step 2, so the isolation
//     levels of concurrent callers may differ.
//  4. Still none: insert the job (created = true).
// Custom check_statuses work because nothing depends on a fixed status set.
// Purging may delete lock rows (see kPurge).
constexpr std::string_view kJobCreation = R"sql(
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
)sql";

// processing_jobs as a work queue (see JobRepository::claim_next_job and
// JobListener).
//  - Claim order is (priority, run_at, id) among pending jobs whose run_at has
//    come. The index is in exactly that order, so a claim reads the front of
//    it and stops at the first job of a wanted type that nobody holds: no
//    sort, whatever the backlog (an index led by job_type could not serve
//    `job_type = ANY (...)` in order, and sorting the whole backlog per claim
//    made draining quadratic). It is partial, holding only pending jobs, so
//    finished ones (the bulk of the table over time) cost the queue nothing.
//    The price: a worker whose types are rare behind a large backlog of
//    other types walked past those (migration 6 adds an index per type).
//  - Rescue looks at running jobs by heartbeat: another small partial index.
//    (Migration 7 replaces it, and migration 6's index of pending jobs.)
//  - New jobs and jobs going back to pending NOTIFY channel soundhash_jobs
//    with the job type as payload. NOTIFY is transactional: listeners hear it
//    only when the creating transaction commits. Inserts notify once per
//    statement and job type (a batch of 100,000 is one notification per
//    type); re-queues are rare and notify per row.
constexpr std::string_view kWorkQueue = R"sql(
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
)sql";

// Wake-ups for jobs whose run_at is ahead (a delay, a retry's backoff): they
// also notify channel soundhash_jobs_delayed with payload
// "<milliseconds until run_at> <job type>" (the type last, as it may hold any
// character), so a listener can wake when they come due instead of at its
// next poll. The wait is measured from one clock_timestamp() per statement:
// the notification is delivered at commit, later, so a listener counting the
// wait from receipt never wakes early. Jobs runnable now notify
// soundhash_jobs as before (older listeners hear only those).
constexpr std::string_view kDelayedWakeups = R"sql(
CREATE FUNCTION soundhash_notify_job(p_job_type text, p_run_at timestamptz,
                                     p_now timestamptz)
  RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  wait_ms bigint := ceil(extract(epoch FROM p_run_at - p_now) * 1000);
BEGIN
  IF wait_ms > 0 THEN
    PERFORM pg_notify('soundhash_jobs_delayed', wait_ms || ' ' || p_job_type);
  ELSE
    PERFORM pg_notify('soundhash_jobs', p_job_type);
  END IF;
END
$fn$;

-- Per statement and job type: one notification if any new job is runnable
-- now, one for the earliest of those that are not.
CREATE OR REPLACE FUNCTION soundhash_notify_new_jobs() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM soundhash_notify_job(g.job_type, g.run_at, t0)
     FROM (SELECT n.job_type, min(n.run_at) AS run_at FROM new_jobs n
            WHERE n.status = 'pending' AND n.run_at <= t0
            GROUP BY n.job_type
           UNION ALL
           SELECT n.job_type, min(n.run_at) FROM new_jobs n
            WHERE n.status = 'pending' AND n.run_at > t0
            GROUP BY n.job_type) g;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION soundhash_notify_requeued_job() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM soundhash_notify_job(NEW.job_type, NEW.run_at, clock_timestamp());
  RETURN NULL;
END
$fn$;
)sql";

// JobRepository::purge_finished_jobs in one call: deletes finished jobs past
// a retention, then the creation-lock rows (see kJobCreation) of keys left
// with no job at all, so that table does not keep a row per key ever created.
// Safe beside creators at every isolation level:
//  - it locks the purged keys' lock rows, skipping any a creator holds; a
//    creator needs that row to create a job, so no job for those keys can be
//    made until this transaction ends;
//  - the statement that deletes them takes a new snapshot (a VOLATILE
//    function does, at READ COMMITTED) after the rows were locked, so it sees
//    every job whose creator had the row before; a row changed since a
//    REPEATABLE READ caller's snapshot already failed with 40001 when it was
//    locked;
//  - a creator whose older snapshot predates a lock row made after the purge
//    fails at step 2 with 40001, as for any lock row it cannot see.
// One function, not two statements from the client: the rows stay locked
// for one server call, not across round trips.
constexpr std::string_view kPurge = R"sql(
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
)sql";

// Claims by job type (see src/claim_statements.hpp). One index over all
// types in claim order made a worker of a rare type walk past the whole
// backlog of other types ahead of it; it is replaced by an index per type in
// the same order. A claim for one type walks its type's index. A claim for
// several merges their fronts in soundhash_lock_next_jobs, below, and locks
// only the jobs it returns. Building the index blocks writes to
// processing_jobs while the table is read once.
constexpr std::string_view kClaimByType = R"sql(
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
)sql";

// Partial indexes only their own queries can use. A query that finds a job
// another way but also says its status matched the predicate of the index
// of jobs in that status. When the statistics were taken while no job was
// in it (an idle queue, then a burst), the planner found that index as cheap
// as the right one and read all of it instead:
//  - heartbeat, complete, fail, release and the fused complete-and-claim
//    (`id = ... AND status = 'running'`) read every running job: 5,000
//    rows a call with 5,000 running, 3.8 ms a completion with 20,000;
//  - the locking step of a claim over several types (`id = ANY (...) AND
//    status = 'pending'`) read every pending job: 10,000 rows a claim;
//  - create_job_if_not_exists with check_statuses {"pending"} read every
//    pending job of its type: 100,000 rows a call.
// Each new predicate adds conditions that are always true of the index's
// rows and that only its own queries state. Claims, listings and the lag
// state the pending index's predicate verbatim (SH_PENDING in job_rows.hpp).
// Rescue compares the time the rescue index is keyed on, which implies its
// predicate (a comparison is never true of NULL), so rescue reads only the
// stale jobs. Building the indexes blocks writes to processing_jobs while
// the table is read, once per index; the old ones are dropped last, as
// dropping takes a lock that blocks reads too (until the migration commits).
// The extra conditions hold up on PostgreSQL 15, which this schema targets:
// PostgreSQL 17 drops `col IS NOT NULL` of a NOT NULL column from queries,
// and the listings that state it without implying it would lose the index.
constexpr std::string_view kOwnIndexes = R"sql(
CREATE INDEX processing_jobs_stale_idx
  ON processing_jobs ((coalesce(heartbeat_at, started_at, created_at)))
  WHERE status = 'running'
    AND coalesce(heartbeat_at, started_at, created_at) IS NOT NULL;
CREATE INDEX processing_jobs_pending_idx
  ON processing_jobs (job_type, priority, run_at, id)
  WHERE status = 'pending' AND job_type IS NOT NULL AND run_at IS NOT NULL;
DROP INDEX processing_jobs_running_idx;
DROP INDEX processing_jobs_claim_idx;
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kInitialSchema},
    {2, "race-free job creation", kJobCreation},
    {3, "work queue", kWorkQueue},
    {4, "delayed wake-ups", kDelayedWakeups},
    {5, "purge with creation locks", kPurge},
    {6, "claims by job type", kClaimByType},
    {7, "indexes only their own queries use", kOwnIndexes},
};

}  // namespace

std::span<const Migration> migrations() noexcept { return kMigrations; }

}  // namespace soundhash::db
