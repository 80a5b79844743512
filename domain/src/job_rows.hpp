#pragma once
// Mapping processing_jobs rows to ProcessingJob (shared by the job
// repository's files).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "soundhash/db/models.hpp"
#include "soundhash/db/result.hpp"

namespace soundhash::db::detail {

inline ProcessingJob to_job(const Row& r, int first = 0) {
  ProcessingJob j;
  j.id = r[first + 0].as<std::int64_t>();
  j.job_type = r[first + 1].as<std::string>();
  j.status = r[first + 2].as<std::string>();
  j.target_id = r[first + 3].as<std::string>();
  j.parameters = r[first + 4].as<std::optional<std::string>>();
  j.progress = r[first + 5].as<double>();
  j.current_step = r[first + 6].as<std::optional<std::string>>();
  j.created_at = r[first + 7].as<Timestamp>();
  j.started_at = r[first + 8].as<std::optional<Timestamp>>();
  j.completed_at = r[first + 9].as<std::optional<Timestamp>>();
  j.error_message = r[first + 10].as<std::optional<std::string>>();
  j.retry_count = r[first + 11].as<std::int32_t>();
  j.max_retries = r[first + 12].as<std::int32_t>();
  j.priority = r[first + 13].as<std::int32_t>();
  j.run_at = r[first + 14].as<Timestamp>();
  j.attempts = r[first + 15].as<std::int32_t>();
  j.locked_by = r[first + 16].as<std::optional<std::string>>();
  j.heartbeat_at = r[first + 17].as<std::optional<Timestamp>>();
  return j;
}

inline std::vector<ProcessingJob> to_jobs(const Result& r) {
  std::vector<ProcessingJob> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(to_job(row));
  return out;
}

}  // namespace soundhash::db::detail
