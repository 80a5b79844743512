#pragma once
// The statements of JobRepository's plain methods (the queue's are in
// queue.hpp and claims.hpp). Job columns are listed in table order, so that
// they match `(r.job).*` and `c.*` of a job row; rows that carry other values
// too put the job's columns last, so a column a later migration adds can only
// trail what the caller reads.
//
// Statements that look for pending jobs state the predicate of the index of
// pending jobs verbatim,
//   q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
// because the planner uses a partial index only for a query that implies its
// predicate. Statements that find jobs another way (by id, by target) must
// not state it, so that stale statistics cannot lead them to that index.

#include <string_view>

namespace soundhash::db::detail::sql {

inline constexpr std::string_view kJobExists = R"sql(
SELECT EXISTS (SELECT 1 FROM processing_jobs
                WHERE job_type = $1 AND target_id = $2 AND status = ANY ($3))
)sql";

// The race-free mechanism is the server function (schema/0002, 0003, 0009;
// 0013 added $8, the timeout, and 0015 $9, the concurrency key).
// `created` comes first: the job's columns end the row, so a column a later
// migration adds to processing_jobs cannot shift what the caller reads.
inline constexpr std::string_view kCreateJobIfNotExists = R"sql(
SELECT r.created, (r.job).*
  FROM soundhash_create_job_if_not_exists($1, $2, $3, $4, $5, $6, $7, $8, $9) r
)sql";

// One type: that type's part of the pending index, read in claim order.
inline constexpr std::string_view kGetPendingJobsOfType = R"sql(
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM processing_jobs q
 WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
   AND q.job_type = $1
 ORDER BY q.priority, q.run_at, q.id
 LIMIT $2
)sql";

// All types: the types with pending jobs are found by hopping through the
// pending index (one lookup per type), then the first $1 of each are merged,
// so the backlog is never read whole.
inline constexpr std::string_view kGetPendingJobs = R"sql(
WITH RECURSIVE t (pending_type) AS (
  (SELECT q.job_type
     FROM processing_jobs q
    WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
    ORDER BY q.job_type
    LIMIT 1)
  UNION ALL
  SELECT (SELECT q.job_type
            FROM processing_jobs q
           WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
             AND q.job_type > t.pending_type
           ORDER BY q.job_type
           LIMIT 1)
    FROM t
   WHERE t.pending_type IS NOT NULL)
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM t
 CROSS JOIN LATERAL (
       SELECT *
         FROM processing_jobs q
        WHERE q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL
          AND q.job_type = t.pending_type
        ORDER BY q.priority, q.run_at, q.id
        LIMIT $1) c
 ORDER BY priority, run_at, id
 LIMIT $1
)sql";

// $2: a job type, or NULL for all.
inline constexpr std::string_view kGetJobsByTarget = R"sql(
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM processing_jobs
 WHERE target_id = $1 AND ($2::text IS NULL OR job_type = $2)
 ORDER BY created_at DESC, id DESC
)sql";

// NULL progress, step or error keep the current value.
inline constexpr std::string_view kUpdateJobStatus = R"sql(
UPDATE processing_jobs
   SET status = $2::text,
       progress = coalesce($3, progress),
       current_step = coalesce($4, current_step),
       error_message = coalesce($5, error_message),
       started_at = CASE WHEN $2::text = 'running'
                         THEN coalesce(started_at, now())
                         ELSE started_at END,
       completed_at = CASE WHEN $2::text IN ('completed', 'failed', 'cancelled')
                           THEN now()
                           ELSE completed_at END,
       heartbeat_at = CASE WHEN $2::text = 'running'
                           THEN now()
                           ELSE heartbeat_at END
 WHERE id = $1
RETURNING id, job_type, status, target_id, parameters, progress, current_step,
          created_at, started_at, completed_at, error_message, retry_count,
          max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
          timeout_ms, errors, concurrency_key
)sql";

// $1: a job type, or NULL for all.
inline constexpr std::string_view kCountJobsByStatus = R"sql(
SELECT status, count(*)
  FROM processing_jobs
 WHERE ($1::text IS NULL OR job_type = $1)
 GROUP BY status
)sql";

inline constexpr std::string_view kJobsExistBatch = R"sql(
SELECT DISTINCT target_id
  FROM processing_jobs
 WHERE job_type = $1 AND target_id = ANY ($2) AND status = ANY ($3)
)sql";

}  // namespace soundhash::db::detail::sql
