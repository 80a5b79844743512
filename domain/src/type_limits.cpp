// JobRepository's concurrency limits: storing them (the claims obey them,
// see sql/claims.hpp and schema/0012).

#include <spdlog/logger.h>

#include "checks.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/log.hpp"
#include "sql/limits.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

// processing_jobs.job_type is varchar(50).
constexpr std::size_t kMaxTypeLength = 50;

void require_type(std::string_view op, std::string_view job_type) {
  detail::require_id(op, "job_type", job_type);
  detail::require_text(op, "job_type", job_type);
  if (job_type.size() > kMaxTypeLength) {
    throw InvalidArgument(std::string(op) +
                          ": job_type must be at most 50 characters");
  }
}

}  // namespace

void JobRepository::set_type_limit(std::string_view job_type,
                                   std::int32_t max_running,
                                   bool allow_unknown_type) {
  constexpr std::string_view op = "set_type_limit";
  require_type(op, job_type);
  if (max_running < 0) {
    throw InvalidArgument(std::string(op) + ": max_running must be >= 0, got " +
                          std::to_string(max_running));
  }
  session_.call(op, [&] {
    if (session_
            .execute_final(sql::kSetTypeLimit, job_type, max_running,
                           allow_unknown_type)
            .empty()) {
      throw UnknownJobType(
          std::string(op) + ": unknown job type \"" + std::string(job_type) +
              "\" (no job, schedule or limit has it; pass allow_unknown_type "
              "to limit it before its first job); nothing was changed",
          std::string(job_type));
    }
    logger().info("Job type {} limited to {} running", job_type, max_running);
  });
}

bool JobRepository::clear_type_limit(std::string_view job_type) {
  constexpr std::string_view op = "clear_type_limit";
  require_type(op, job_type);
  return session_.call(op, [&] {
    return !session_.execute_final(sql::kClearTypeLimit, job_type).empty();
  });
}

std::vector<TypeLimit> JobRepository::list_type_limits() {
  return session_.call("list_type_limits", [&] {
    std::vector<TypeLimit> out;
    for (const auto& row : session_.read(sql::kListTypeLimits)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::int32_t>(),
                     row[2].as<std::int64_t>()});
    }
    return out;
  });
}

void JobRepository::set_key_limit(std::string_view job_type,
                                  std::int32_t max_running_per_key,
                                  bool allow_unknown_type) {
  constexpr std::string_view op = "set_key_limit";
  require_type(op, job_type);
  if (max_running_per_key < 1) {
    throw InvalidArgument(std::string(op) +
                          ": max_running_per_key must be >= 1, got " +
                          std::to_string(max_running_per_key));
  }
  session_.call(op, [&] {
    if (session_
            .execute_final(sql::kSetKeyLimit, job_type, max_running_per_key,
                           allow_unknown_type)
            .empty()) {
      throw UnknownJobType(
          std::string(op) + ": unknown job type \"" + std::string(job_type) +
              "\" (no job, schedule or limit has it; pass allow_unknown_type "
              "to limit it before its first job); nothing was changed",
          std::string(job_type));
    }
    logger().info("Job type {} limited to {} running per key", job_type,
                  max_running_per_key);
  });
}

bool JobRepository::clear_key_limit(std::string_view job_type) {
  constexpr std::string_view op = "clear_key_limit";
  require_type(op, job_type);
  return session_.call(op, [&] {
    return !session_.execute_final(sql::kClearKeyLimit, job_type).empty();
  });
}

std::vector<KeyLimit> JobRepository::list_key_limits() {
  return session_.call("list_key_limits", [&] {
    std::vector<KeyLimit> out;
    for (const auto& row : session_.read(sql::kListKeyLimits)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::int32_t>(),
                     row[2].as<std::int64_t>(), row[3].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace soundhash::db
