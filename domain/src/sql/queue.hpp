#pragma once
// The statements of JobRepository's work-queue methods (claims are in
// claims.hpp). Each is one statement, so one round trip. A statement that
// acts for a worker changes a job only while that worker owns it (status
// 'running', locked_by = the worker).
//
// The single-job statements end with the job's status and owner before the
// change, then the changed row (NULL columns if nothing changed), so that the
// caller can say why it was refused in the same round trip:
//   SELECT (SELECT o.status ...), (SELECT o.locked_by ...), c...
//     FROM (VALUES (1)) one LEFT JOIN changed c ON true

#include <string_view>

namespace soundhash::db::detail::sql {

// $6: the delay in milliseconds, $7 the timeout (NULL: none), $8 the
// concurrency key (NULL: none).
inline constexpr std::string_view kCreateJob = R"sql(
INSERT INTO processing_jobs (job_type, target_id, parameters, priority,
                             max_retries, run_at, timeout_ms, concurrency_key)
VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond', $7, $8)
RETURNING id, job_type, status, target_id, parameters, progress, current_step,
          created_at, started_at, completed_at, error_message, retry_count,
          max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
          timeout_ms, errors, concurrency_key
)sql";

// One array per column. Identity values follow the insertion order, which
// follows `ord`, so the ids come back in the order of the input.
inline constexpr std::string_view kCreateJobsBatch = R"sql(
INSERT INTO processing_jobs (job_type, target_id, parameters, priority,
                             max_retries, run_at, timeout_ms, concurrency_key)
SELECT t, g, p, pr::int, mr::int, now() + d * interval '1 millisecond', tm, k
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
              $6::bigint[], $7::bigint[], $8::text[])
       WITH ORDINALITY AS u (t, g, p, pr, mr, d, tm, k, ord)
 ORDER BY ord
RETURNING id
)sql";

// A job whose attempt ran past its timeout (NewJob::timeout) is not kept
// alive: the heartbeat ends the attempt as fail_job does (back to pending
// after the backoff while retries remain, else failed) and records the
// timeout in its error history. $5, $6: the backoff as for kRescueStaleJobs.
// The two updates' conditions exclude each other, so one statement changes the
// row at most once. The row ends with the number of jobs timed out (0 or 1).
inline constexpr std::string_view kHeartbeat = R"sql(
WITH timed_out AS (
  UPDATE processing_jobs j
     SET status = CASE WHEN j.retry_count < j.max_retries
                       THEN 'pending' ELSE 'failed' END,
         retry_count = CASE WHEN j.retry_count < j.max_retries
                            THEN j.retry_count + 1 ELSE j.retry_count END,
         completed_at = CASE WHEN j.retry_count < j.max_retries
                             THEN NULL ELSE now() END,
         locked_by = CASE WHEN j.retry_count < j.max_retries
                          THEN NULL ELSE j.locked_by END,
         run_at = CASE WHEN j.retry_count < j.max_retries
                       THEN now() + ($5::bigint[])[least(j.retry_count, 31) + 1]
                                    * (1 - $6::float8 * random())
                                    * interval '1 millisecond'
                       ELSE now() END,
         heartbeat_at = NULL,
         error_message = 'timed out: the attempt ran longer than '
                         || j.timeout_ms || ' ms',
         errors = soundhash_push_job_error(
                    j.errors, 'timed out: the attempt ran longer than '
                              || j.timeout_ms || ' ms',
                    j.attempts, j.locked_by, now())
   WHERE j.id = $1 AND j.status = 'running' AND j.locked_by = $2
     AND j.timeout_ms IS NOT NULL
     AND coalesce(j.started_at, j.created_at)
         + j.timeout_ms * interval '1 millisecond' <= now()
  RETURNING j.id),
changed AS (
  UPDATE processing_jobs j
     SET heartbeat_at = now(),
         progress = coalesce($3, j.progress),
         current_step = coalesce($4, j.current_step)
   WHERE j.id = $1 AND j.status = 'running' AND j.locked_by = $2
     AND NOT (j.timeout_ms IS NOT NULL
              AND coalesce(j.started_at, j.created_at)
                  + j.timeout_ms * interval '1 millisecond' <= now())
  RETURNING j.id)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $1),
       (SELECT o.locked_by FROM processing_jobs o WHERE o.id = $1),
       c.id,
       (SELECT count(*) FROM timed_out)
  FROM (VALUES (1)) one
  LEFT JOIN changed c ON true
)sql";

// Returns the ids not completed by this call and not already completed by
// this worker (a repeat after CommitInDoubt finds its jobs done).
// One row per job: (id, true, type) for each job this call completed, and
// (id, false, NULL) for each the worker no longer owned.
inline constexpr std::string_view kCompleteJobs = R"sql(
WITH changed AS (
  UPDATE processing_jobs j
     SET status = 'completed', completed_at = now(), progress = 100
   WHERE j.id = ANY ($1) AND j.status = 'running' AND j.locked_by = $2
  RETURNING j.id, j.job_type)
SELECT c.id, true, c.job_type
  FROM changed c
UNION ALL
SELECT k.id, false, NULL
  FROM unnest($1::bigint[]) k (id)
  LEFT JOIN processing_jobs o ON o.id = k.id
 WHERE k.id NOT IN (SELECT id FROM changed)
   AND (o.id IS NULL OR o.status <> 'completed' OR o.locked_by <> $2
        OR o.locked_by IS NULL)
)sql";

inline constexpr std::string_view kCompleteJob = R"sql(
WITH changed AS (
  UPDATE processing_jobs j
     SET status = 'completed', completed_at = now(), progress = 100
   WHERE j.id = $1 AND j.status = 'running' AND j.locked_by = $2
  RETURNING j.id, j.job_type)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $1),
       (SELECT o.locked_by FROM processing_jobs o WHERE o.id = $1),
       c.id, c.job_type
  FROM (VALUES (1)) one
  LEFT JOIN changed c ON true
)sql";

// Back to pending with a backoff while retries remain, else failed; the error
// joins the job's history (schema/0013). $4: the delays in milliseconds by
// retries so far, the last one repeating.
inline constexpr std::string_view kFailJob = R"sql(
WITH changed AS (
  UPDATE processing_jobs j
     SET status = CASE WHEN j.retry_count < j.max_retries
                       THEN 'pending' ELSE 'failed' END,
         run_at = CASE WHEN j.retry_count < j.max_retries
                       THEN now() + ($4::bigint[])[least(j.retry_count, 31) + 1]
                                    * interval '1 millisecond'
                       ELSE j.run_at END,
         retry_count = CASE WHEN j.retry_count < j.max_retries
                            THEN j.retry_count + 1 ELSE j.retry_count END,
         completed_at = CASE WHEN j.retry_count < j.max_retries
                             THEN NULL ELSE now() END,
         locked_by = CASE WHEN j.retry_count < j.max_retries
                          THEN NULL ELSE j.locked_by END,
         heartbeat_at = NULL,
         error_message = $3,
         errors = soundhash_push_job_error(j.errors, $3, j.attempts,
                                           j.locked_by, now())
   WHERE j.id = $1 AND j.status = 'running' AND j.locked_by = $2
  RETURNING j.*)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $1),
       (SELECT o.locked_by FROM processing_jobs o WHERE o.id = $1),
       c.*
  FROM (VALUES (1)) one
  LEFT JOIN changed c ON true
)sql";

// A rescued job waits out the backoff as a failed one does (a job that kills
// its worker must not loop hot). $2: the delays in milliseconds by retries so
// far, without jitter; $3 the jitter: each row draws its own random(), so
// jobs rescued together do not come back together.
// SKIP LOCKED: a job another rescuer (or its worker) holds is skipped, and one
// whose row changed since this statement's snapshot is re-checked against the
// new version, so nothing is rescued twice. Comparing the time the stale-job
// index is keyed on implies that index's predicate, so only stale jobs are
// read.
inline constexpr std::string_view kRescueStaleJobs = R"sql(
WITH stale AS (
  SELECT s.id
    FROM processing_jobs s
   WHERE s.status = 'running'
     AND coalesce(s.heartbeat_at, s.started_at, s.created_at)
         < now() - $1 * interval '1 millisecond'
     FOR UPDATE SKIP LOCKED),
rescued AS (
  UPDATE processing_jobs j
     SET status = CASE WHEN j.retry_count < j.max_retries
                       THEN 'pending' ELSE 'failed' END,
         retry_count = CASE WHEN j.retry_count < j.max_retries
                            THEN j.retry_count + 1 ELSE j.retry_count END,
         completed_at = CASE WHEN j.retry_count < j.max_retries
                             THEN NULL ELSE now() END,
         run_at = CASE WHEN j.retry_count < j.max_retries
                       THEN now() + ($2::bigint[])[least(j.retry_count, 31) + 1]
                                    * (1 - $3::float8 * random())
                                    * interval '1 millisecond'
                       ELSE now() END,
         heartbeat_at = NULL,
         locked_by = CASE WHEN j.retry_count < j.max_retries
                          THEN NULL ELSE j.locked_by END,
         error_message = 'rescued: no heartbeat from worker '
                         || coalesce(j.locked_by, '(unknown)') || ' since '
                         || coalesce(j.heartbeat_at, j.started_at, j.created_at),
         errors = soundhash_push_job_error(
                    j.errors,
                    'rescued: no heartbeat from worker '
                    || coalesce(j.locked_by, '(unknown)') || ' since '
                    || coalesce(j.heartbeat_at, j.started_at, j.created_at),
                    j.attempts, j.locked_by, now())
    FROM stale
   WHERE j.id = stale.id
  RETURNING j.*)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM rescued
 ORDER BY id
)sql";

// Elects the process that rescues this round (Worker); held until the
// transaction ends.
inline constexpr std::string_view kTryRescueLock = R"sql(
SELECT pg_try_advisory_xact_lock($1)
)sql";

// The attempt the claim counted never ran, so it is taken back; run_at stays,
// so a job keeps its place ahead of newer ones. Going back to pending fires
// the requeue trigger, which wakes idle workers. Returns the ids not
// released.
inline constexpr std::string_view kReleaseJobs = R"sql(
WITH changed AS (
  UPDATE processing_jobs j
     SET status = 'pending', locked_by = NULL, heartbeat_at = NULL,
         started_at = NULL, attempts = greatest(j.attempts - 1, 0)
   WHERE j.id = ANY ($1) AND j.status = 'running' AND j.locked_by = $2
  RETURNING j.id)
SELECT DISTINCT k.id
  FROM unnest($1::bigint[]) k (id)
 WHERE k.id NOT IN (SELECT id FROM changed)
 ORDER BY k.id
)sql";

// A server function (schema/0005), so that the rows it locks are held for
// one call, not across round trips.
inline constexpr std::string_view kPurgeFinishedJobs = R"sql(
SELECT p.purged_jobs, p.dropped_locks
  FROM soundhash_purge_finished_jobs($1, $2) p
)sql";

// How long the oldest runnable job of the $1 types (all if empty) has waited,
// in milliseconds; NULL if none. States the pending index's predicate.
inline constexpr std::string_view kOldestRunnableWait = R"sql(
SELECT floor(extract(epoch FROM now() - min(q.run_at)) * 1000)::bigint
  FROM processing_jobs q
 WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
   AND q.run_at <= now()
   AND (cardinality($1::text[]) = 0 OR q.job_type = ANY ($1))
)sql";

}  // namespace soundhash::db::detail::sql
