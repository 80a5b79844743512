#pragma once
// The statements of JobRepository's calls on one job by id: cancel_job,
// get_job, get_job_errors (schema/0013). Each is one statement.

#include <string_view>

namespace soundhash::db::detail::sql {

// Pending or running jobs end cancelled; the owner of a running one is kept
// (it learns of it at its next heartbeat, which then finds the job not
// running under it). The row: the job's status before (NULL: no such job),
// then the cancelled job (NULL columns if nothing changed).
inline constexpr std::string_view kCancelJob = R"sql(
WITH changed AS (
  UPDATE processing_jobs j
     SET status = 'cancelled', completed_at = now(), heartbeat_at = NULL
   WHERE j.id = $1 AND j.status IN ('pending', 'running')
  RETURNING j.*)
SELECT (SELECT o.status FROM processing_jobs o WHERE o.id = $1),
       c.*
  FROM (VALUES (1)) one
  LEFT JOIN changed c ON true
)sql";

inline constexpr std::string_view kGetJob = R"sql(
SELECT id, job_type, status, target_id, parameters, progress, current_step,
       created_at, started_at, completed_at, error_message, retry_count,
       max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
       timeout_ms, errors, concurrency_key
  FROM processing_jobs
 WHERE id = $1
)sql";

// One row per kept error, oldest first, after the job's id; a job with none
// gives one row of NULLs after its id, and no job gives no row.
inline constexpr std::string_view kGetJobErrors = R"sql(
SELECT j.id,
       coalesce((e.value->>'attempt')::integer, 0) AS attempt,
       e.value->>'message' AS message,
       e.value->>'worker' AS worker,
       (e.value->>'at')::timestamptz AS at
  FROM processing_jobs j
  LEFT JOIN LATERAL jsonb_array_elements(j.errors) WITH ORDINALITY
       e (value, ord) ON true
 WHERE j.id = $1
 ORDER BY e.ord
)sql";

}  // namespace soundhash::db::detail::sql
