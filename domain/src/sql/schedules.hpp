#pragma once
// JobRepository's periodic-job statements (schema/0011).

#include <string_view>

namespace soundhash::db::detail::sql {

// The server's clock, which next_run_at is computed from, and schedule $1's
// expression if it exists.
inline constexpr std::string_view kBeforeUpsertSchedule = R"sql(
SELECT statement_timestamp(), s.expression
  FROM (VALUES (1)) one
  LEFT JOIN job_schedules s ON s.name = $1
)sql";

// $1 name, $2 expression, $3..$8 the job, $9 next_run_at computed from the
// server's clock, $10 the job's timeout (schema/0014; NULL: none), $11 its
// concurrency key (schema/0015; NULL: none). An unchanged expression keeps
// its rhythm (next_run_at).
inline constexpr std::string_view kUpsertSchedule = R"sql(
INSERT INTO job_schedules AS s (name, expression, job_type, target_id,
                                parameters, priority, max_retries, delay_ms,
                                next_run_at, timeout_ms, concurrency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (name) DO UPDATE
   SET expression = EXCLUDED.expression, job_type = EXCLUDED.job_type,
       target_id = EXCLUDED.target_id, parameters = EXCLUDED.parameters,
       priority = EXCLUDED.priority, max_retries = EXCLUDED.max_retries,
       delay_ms = EXCLUDED.delay_ms, timeout_ms = EXCLUDED.timeout_ms,
       concurrency_key = EXCLUDED.concurrency_key, updated_at = now(),
       next_run_at = CASE WHEN s.expression = EXCLUDED.expression
                          THEN s.next_run_at ELSE EXCLUDED.next_run_at END
RETURNING name, expression, job_type, target_id, parameters, priority,
          max_retries, delay_ms, next_run_at, last_enqueued_at, created_at,
          updated_at, timeout_ms, concurrency_key
)sql";

inline constexpr std::string_view kDeleteSchedule = R"sql(
DELETE FROM job_schedules WHERE name = $1 RETURNING name
)sql";

inline constexpr std::string_view kListSchedules = R"sql(
SELECT name, expression, job_type, target_id, parameters, priority,
       max_retries, delay_ms, next_run_at, last_enqueued_at, created_at,
       updated_at, timeout_ms, concurrency_key
  FROM job_schedules
 ORDER BY name
)sql";

// Up to $1 due schedules, soonest first, and the server's clock.
inline constexpr std::string_view kDueSchedules = R"sql(
SELECT name, expression, next_run_at, statement_timestamp()
  FROM job_schedules
 WHERE next_run_at <= statement_timestamp()
 ORDER BY next_run_at
 LIMIT $1
)sql";

// Advances each schedule $1[i] from next_run_at $2[i] to $3[i] and creates
// its job, only if next_run_at still is $2[i]: under READ COMMITTED a
// concurrent caller that advanced it first makes the row fail this check
// when it is re-read after that caller's commit, so each period's job is
// created once. The job's run_at is its period's time (plus its delay), so
// that it says which period it stands for. A job refused by a unique index (the
// optional one-active-job index) is skipped: that period creates nothing.
inline constexpr std::string_view kEnqueueDueSchedules = R"sql(
WITH due AS (
  UPDATE job_schedules s
     SET next_run_at = u.next_run_at, last_enqueued_at = now()
    FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
           AS u (name, was, next_run_at)
   WHERE s.name = u.name AND s.next_run_at = u.was
  RETURNING s.job_type, s.target_id, s.parameters, s.priority, s.max_retries,
            s.delay_ms, s.timeout_ms, s.concurrency_key, s.name, u.was)
INSERT INTO processing_jobs (job_type, target_id, parameters, priority,
                             max_retries, run_at, timeout_ms, concurrency_key)
SELECT job_type, target_id, parameters, priority, max_retries,
       was + delay_ms * interval '1 millisecond', timeout_ms, concurrency_key
  FROM due
 ORDER BY name
    ON CONFLICT DO NOTHING
RETURNING id, job_type, status, target_id, parameters, progress, current_step,
          created_at, started_at, completed_at, error_message, retry_count,
          max_retries, priority, run_at, attempts, locked_by, heartbeat_at,
          timeout_ms, errors, concurrency_key
)sql";

}  // namespace soundhash::db::detail::sql
