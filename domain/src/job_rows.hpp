#pragma once
// SQL fragments shared by the job repository's files (rows are read with
// row.as<ProcessingJob>(), models.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "soundhash/db/models.hpp"
#include "soundhash/db/result.hpp"

namespace soundhash::db::detail {

// The predicate of the index of pending jobs for the row alias
// `q`, verbatim: a query reads that index only when it states this. Queries
// that find jobs another way (by id, by target) do not, so stale statistics
// cannot lead them there; see kOwnIndexes in migrations.cpp.
#define SH_PENDING \
  "q.status = 'pending' AND q.job_type IS NOT NULL AND q.run_at IS NOT NULL"

// row_traits<ProcessingJob>'s columns (models.hpp), in its order.
#define SH_JOB_COLS                                                       \
  "id, job_type, status, target_id, parameters, progress, current_step, " \
  "created_at, started_at, completed_at, error_message, retry_count, "    \
  "max_retries, priority, run_at, attempts, locked_by, heartbeat_at"

}  // namespace soundhash::db::detail
