#pragma once
// The claim statements of JobRepository (claim_next_job, claim_jobs,
// complete_job_and_claim_next), each for one job type and for several.
// $1: the job types (distinct), $2: the worker.
//
// A claim locks up to N runnable pending jobs of the wanted types that nobody
// else has locked, in claim order (priority, run_at, id), and marks them
// running for the worker; every row it locks is claimed (but see the limits
// below). It reads only the
// fronts of the wanted types in the pending index (keyed by job type first),
// however large the backlog of other types: one index over all types in
// claim order made a worker of a rare type walk past all of the others.
//  - One type: a locking walk of that type's index (the WHERE clause states
//    the index's predicate verbatim so the planner can use it).
//  - Several: soundhash_lock_next_jobs (schema/0006) merges the types'
//    fronts. One statement cannot merge them and lock only what it takes: a
//    locking walk per type locks a front of each and claims one (other
//    workers then skip the rest and find nothing), and joining unlocked
//    candidates to the rows it locks let stale statistics pick a hash join
//    over the whole backlog. The scalar subquery calls it once per
//    statement, not once per row.
// The claimed ids go through an array so that the UPDATE stays an index
// lookup per id instead of a hash join over the table.
// Concurrency limits (schema/0012): soundhash_claim_room locks a limited
// type's limit row and says how many more of it may run. A one-job claim of
// one type is gated on it (a one-time filter: the plan is the unlimited
// one's), a batch keeps that many of the ids it locked (a slice of the
// array, so that the locking walk keeps its plan), and the merge of several
// types stays within each type's room. The unkept ids of a limited type stay
// locked until the claim commits, harmlessly: every other claim of that type is
// waiting for the limit row meanwhile. An unlimited type's claim locks nothing
// more.
// Per-key limits (schema/0015, 0016): a claim of types one of which has a
// key limit (the EXISTS probe, an index lookup in a small table) takes
// soundhash_lock_keyed_jobs instead, which takes the types' rooms and walks
// their runnable jobs, deciding each key under an advisory lock of its own;
// COALESCE evaluates the plain walk only when that function was not called, so
// a claim of types without key limits keeps its plan. The one-job claims spell
// out LIMIT 1: with a parameter there, the generic plan of the prepared
// statement looks dear and the server re-plans it on every call.

#include <string_view>

namespace soundhash::db::detail::sql {

inline constexpr std::string_view kClaimNextJobOfType = R"sql(
WITH claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY (coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], 1)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ($1::text[])[1])),
           ARRAY (
           SELECT q.id
             FROM processing_jobs q
            WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
              AND q.job_type = ($1::text[])[1] AND q.run_at <= now()
            ORDER BY q.priority, q.run_at, q.id
            LIMIT 1
              FOR UPDATE SKIP LOCKED)))
     AND (SELECT soundhash_claim_room(($1::text[])[1], 1)) > 0
  RETURNING j.*)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM claimed
)sql";

inline constexpr std::string_view kClaimNextJobOfTypes = R"sql(
WITH claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY (coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], 1)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ANY ($1::text[]))),
           (SELECT soundhash_lock_next_jobs($1::text[], 1))::bigint[]))
  RETURNING j.*)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM claimed
)sql";

// $3: how many.
inline constexpr std::string_view kClaimJobsOfType = R"sql(
WITH claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY ((coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], $3::integer)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ($1::text[])[1])),
           ARRAY (
           SELECT q.id
             FROM processing_jobs q
            WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
              AND q.job_type = ($1::text[])[1] AND q.run_at <= now()
            ORDER BY q.priority, q.run_at, q.id
            LIMIT $3
              FOR UPDATE SKIP LOCKED)))[1:(SELECT soundhash_claim_room(
                                               ($1::text[])[1], $3::integer))])
  RETURNING j.*)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM claimed
 ORDER BY priority, run_at, id
)sql";

// $3: how many.
inline constexpr std::string_view kClaimJobsOfTypes = R"sql(
WITH claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY (coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], $3::integer)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ANY ($1::text[]))),
           (SELECT soundhash_lock_next_jobs($1::text[], $3))::bigint[]))
  RETURNING j.*)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM claimed
 ORDER BY priority, run_at, id
)sql";

// complete_job_and_claim_next: completes job $3 for worker $2, then claims
// one job only if job $3 is now completed by this worker (by this statement,
// or by an earlier call whose COMMIT was in doubt). The row: job $3's status
// and owner before, how many rows the completion changed, then the claimed
// job (NULL columns if none).
inline constexpr std::string_view kCompleteAndClaimNextOfType = R"sql(
WITH done AS (
  UPDATE processing_jobs d
     SET status = 'completed', completed_at = now(), progress = 100
   WHERE d.id = $3 AND d.status = 'running' AND d.locked_by = $2
  RETURNING d.id, d.job_type),
claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY (coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], 1, $3)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ($1::text[])[1])
               AND (EXISTS (SELECT 1 FROM done)
                    OR EXISTS (SELECT 1 FROM processing_jobs o
                                WHERE o.id = $3 AND o.status = 'completed'
                                  AND o.locked_by = $2))),
           ARRAY (
           SELECT q.id
             FROM processing_jobs q
            WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
              AND q.job_type = ($1::text[])[1] AND q.run_at <= now()
              AND (EXISTS (SELECT 1 FROM done)
                   OR EXISTS (SELECT 1 FROM processing_jobs o
                               WHERE o.id = $3 AND o.status = 'completed'
                                 AND o.locked_by = $2))
            ORDER BY q.priority, q.run_at, q.id
            LIMIT 1
              FOR UPDATE SKIP LOCKED)))
     AND (SELECT soundhash_claim_room(($1::text[])[1], 1, $3)) > 0
  RETURNING j.*)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $3),
       (SELECT o.locked_by FROM processing_jobs o WHERE o.id = $3),
       (SELECT count(*) FROM done),
       c.*,
       (SELECT d.job_type FROM done d) AS completed_job_type
  FROM (VALUES (1)) one
  LEFT JOIN claimed c ON true
)sql";

inline constexpr std::string_view kCompleteAndClaimNextOfTypes = R"sql(
WITH done AS (
  UPDATE processing_jobs d
     SET status = 'completed', completed_at = now(), progress = 100
   WHERE d.id = $3 AND d.status = 'running' AND d.locked_by = $2
  RETURNING d.id, d.job_type),
claimed AS (
  UPDATE processing_jobs j
     SET status = 'running', started_at = now(), heartbeat_at = now(),
         locked_by = $2, attempts = j.attempts + 1
   WHERE j.id = ANY (coalesce(
           (SELECT soundhash_lock_keyed_jobs($1::text[], 1, $3)
             WHERE EXISTS (SELECT 1 FROM job_key_limits k
                            WHERE k.job_type = ANY ($1::text[]))
               AND (EXISTS (SELECT 1 FROM done)
                    OR EXISTS (SELECT 1 FROM processing_jobs o
                                WHERE o.id = $3 AND o.status = 'completed'
                                  AND o.locked_by = $2))),
           (SELECT soundhash_lock_next_jobs($1::text[], 1, $3)
             WHERE (EXISTS (SELECT 1 FROM done)
                    OR EXISTS (SELECT 1 FROM processing_jobs o
                                WHERE o.id = $3 AND o.status = 'completed'
                                  AND o.locked_by = $2)))::bigint[]))
  RETURNING j.*)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $3),
       (SELECT o.locked_by FROM processing_jobs o WHERE o.id = $3),
       (SELECT count(*) FROM done),
       c.*,
       (SELECT d.job_type FROM done d) AS completed_job_type
  FROM (VALUES (1)) one
  LEFT JOIN claimed c ON true
)sql";

}  // namespace soundhash::db::detail::sql
