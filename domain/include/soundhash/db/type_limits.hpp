#pragma once
// Concurrency limits per job type (JobRepository::set_type_limit): how many
// jobs of a type may run at once across every worker and process; and per
// key (set_key_limit): how many of a type with one concurrency_key.
// See docs/guide/queue.md, "Concurrency limits".

#include <cstdint>
#include <string>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {

/// set_type_limit named a job type that nothing knows: no job of that type
/// exists (in any status), no schedule creates one, and it has no limit yet.
/// Usually a typo; pass `allow_unknown_type` to limit a type before its first
/// job. Nothing was changed.
class UnknownJobType : public InvalidArgument {
 public:
  UnknownJobType(const std::string& message, std::string job_type)
      : InvalidArgument(message), job_type_(std::move(job_type)) {}
  /// The type that was named.
  [[nodiscard]] const std::string& job_type() const noexcept {
    return job_type_;
  }

 private:
  std::string job_type_;
};

/// A job type's limit, as list_type_limits returns it.
struct TypeLimit {
  std::string job_type;
  /// At most this many of the type run at once (0: none is claimed).
  std::int32_t max_running = 0;
  /// How many run now.
  std::int64_t running = 0;
};

/// A job type's per-key limit (JobRepository::set_key_limit), as
/// list_key_limits returns it.
struct KeyLimit {
  std::string job_type;
  /// At most this many jobs of the type with one concurrency_key run at once.
  std::int32_t max_running_per_key = 1;
  /// How many jobs of the type with a key run now, and how many of them
  /// share the busiest key.
  std::int64_t running = 0;
  std::int64_t busiest_key_running = 0;
};

}  // namespace soundhash::db
