#pragma once
// Argument checks shared by the repositories: each throws InvalidArgument
// naming the method and the argument, before anything is sent.

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "soundhash/db/errors.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::db::detail {

inline void require_id(std::string_view op, std::string_view arg,
                       std::string_view value) {
  if (value.empty()) {
    throw InvalidArgument(std::string(op) + ": " + std::string(arg) +
                          " must not be empty");
  }
}

inline void require_text(std::string_view op, std::string_view arg,
                         std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    throw InvalidArgument(std::string(op) + ": " + std::string(arg) +
                          " contains a NUL byte, which PostgreSQL text cannot "
                          "hold");
  }
}

inline void require_key(std::string_view op, std::string_view arg,
                        std::int64_t value) {
  if (value <= 0) {
    throw InvalidArgument(std::string(op) + ": " + std::string(arg) +
                          " must be a positive row id, got " +
                          std::to_string(value));
  }
}

inline void require_limit(std::string_view op, int limit) {
  if (limit <= 0) {
    throw InvalidArgument(std::string(op) + ": limit must be > 0, got " +
                          std::to_string(limit));
  }
}

inline void require_finite(std::string_view op, std::string_view arg, double v,
                           double lo, double hi) {
  if (!std::isfinite(v) || v < lo || v > hi) {
    throw InvalidArgument(std::string(op) + ": " + std::string(arg) +
                          " must be a number in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + std::to_string(v));
  }
}

inline void require_status(std::string_view op, std::string_view status) {
  if (!job_status::is_valid(status)) {
    throw InvalidArgument(
        std::string(op) + ": unknown job status \"" + std::string(status) +
        "\" (pending, running, completed, failed, cancelled)");
  }
}

inline void require_statuses(std::string_view op,
                             const std::vector<std::string>& statuses) {
  if (statuses.empty()) {
    throw InvalidArgument(std::string(op) + ": statuses must not be empty");
  }
  for (const auto& s : statuses) require_status(op, s);
}

inline void require_new_job(std::string_view op, const NewJob& j) {
  require_id(op, "job_type", j.job_type);
  require_id(op, "target_id", j.target_id);
  if (j.max_retries < 0) {
    throw InvalidArgument(std::string(op) + ": max_retries must be >= 0, got " +
                          std::to_string(j.max_retries));
  }
  if (j.delay.count() < 0) {
    throw InvalidArgument(std::string(op) + ": delay must be >= 0");
  }
  if (j.timeout && j.timeout->count() <= 0) {
    throw InvalidArgument(std::string(op) + ": timeout must be > 0, got " +
                          std::to_string(j.timeout->count()) + " ms");
  }
  if (j.concurrency_key) {
    require_id(op, "concurrency_key", *j.concurrency_key);
    require_text(op, "concurrency_key", *j.concurrency_key);
    if (j.concurrency_key->size() > 255) {
      throw InvalidArgument(std::string(op) +
                            ": concurrency_key must be at most 255 bytes");
    }
  }
}

}  // namespace soundhash::db::detail
