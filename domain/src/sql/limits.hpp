#pragma once
// JobRepository's concurrency-limit statements (schema/0012, per key 0015).
// The claims
// that obey the limits are in claims.hpp.

#include <string_view>

namespace soundhash::db::detail::sql {

// $1 type, $2 max_running, $3 store it even for a type nothing knows. No
// row back: the type is unknown and nothing was stored.
inline constexpr std::string_view kSetTypeLimit = R"sql(
INSERT INTO job_type_limits AS l (job_type, max_running)
SELECT $1::text, $2::integer
 WHERE $3::boolean
    OR EXISTS (SELECT 1 FROM processing_jobs j WHERE j.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_schedules s WHERE s.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_type_limits o WHERE o.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_key_limits o WHERE o.job_type = $1::text)
    ON CONFLICT (job_type) DO UPDATE
   SET max_running = EXCLUDED.max_running, updated_at = now()
RETURNING l.job_type
)sql";

inline constexpr std::string_view kClearTypeLimit = R"sql(
DELETE FROM job_type_limits WHERE job_type = $1 RETURNING job_type
)sql";

inline constexpr std::string_view kListTypeLimits = R"sql(
SELECT l.job_type, l.max_running,
       (SELECT count(*) FROM processing_jobs j
         WHERE j.status = 'running'
           AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL
           AND j.job_type = l.job_type)
  FROM job_type_limits l
 ORDER BY l.job_type
)sql";

// $1 type, $2 max_running_per_key, $3 store it even for a type nothing
// knows (schema/0015). No row back: the type is unknown, nothing was stored.
inline constexpr std::string_view kSetKeyLimit = R"sql(
INSERT INTO job_key_limits AS l (job_type, max_running_per_key)
SELECT $1::text, $2::integer
 WHERE $3::boolean
    OR EXISTS (SELECT 1 FROM processing_jobs j WHERE j.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_schedules s WHERE s.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_type_limits o WHERE o.job_type = $1::text)
    OR EXISTS (SELECT 1 FROM job_key_limits o WHERE o.job_type = $1::text)
    ON CONFLICT (job_type) DO UPDATE
   SET max_running_per_key = EXCLUDED.max_running_per_key, updated_at = now()
RETURNING l.job_type
)sql";

inline constexpr std::string_view kClearKeyLimit = R"sql(
DELETE FROM job_key_limits WHERE job_type = $1 RETURNING job_type
)sql";

// Counts through the index of running jobs, as the claims do.
inline constexpr std::string_view kListKeyLimits = R"sql(
SELECT l.job_type, l.max_running_per_key,
       coalesce(sum(c.n), 0)::bigint, coalesce(max(c.n), 0)::bigint
  FROM job_key_limits l
  LEFT JOIN LATERAL (
       SELECT count(*) AS n
         FROM processing_jobs j
        WHERE j.status = 'running'
          AND coalesce(j.heartbeat_at, j.started_at, j.created_at) IS NOT NULL
          AND j.job_type = l.job_type AND j.concurrency_key IS NOT NULL
        GROUP BY j.concurrency_key) c ON true
 GROUP BY l.job_type, l.max_running_per_key
 ORDER BY l.job_type
)sql";

}  // namespace soundhash::db::detail::sql
