// JobRepository's calls on one job by id: cancel it, read it, read its error
// history.

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "checks.hpp"
#include "queue_events.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/log.hpp"
#include "sql/control.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

[[noreturn]] void throw_not_found(std::string_view op, std::int64_t id) {
  throw JobNotFound(
      fmt::format("{}: job {} does not exist; nothing was changed", op, id),
      id);
}

}  // namespace

ProcessingJob JobRepository::cancel_job(std::int64_t id) {
  constexpr std::string_view op = "cancel_job";
  detail::require_key(op, "id", id);
  auto cancelled = session_.call(op, [&] {
    const auto row = session_.execute_final(sql::kCancelJob, id).one();
    if (!row[1].is_null()) {
      auto job = row.as<ProcessingJob>(1);
      logger().info("Cancelled job: id={}, type={}, target={}{}", job.id,
                    job.job_type, job.target_id,
                    job.locked_by ? ", running under " + *job.locked_by : "");
      return job;
    }
    auto status = row[0].as<std::optional<std::string>>();
    if (!status) throw_not_found(op, id);
    if (*status == job_status::pending || *status == job_status::running) {
      // It finished while this statement waited for its row lock (read
      // committed): say how.
      auto now = session_.read(sql::kGetJob, id);
      if (now.empty()) throw_not_found(op, id);
      status = now[0].as<ProcessingJob>().status;
    }
    throw JobAlreadyFinished(
        fmt::format("{}: job {} has already finished (status {}); nothing was "
                    "changed",
                    op, id, *status),
        id, *status);
  });
  detail::report_job(session_, JobChange::cancelled, cancelled.job_type,
                     cancelled.id);
  return cancelled;
}

std::optional<ProcessingJob> JobRepository::get_job(std::int64_t id) {
  detail::require_key("get_job", "id", id);
  return session_.call("get_job", [&]() -> std::optional<ProcessingJob> {
    auto r = session_.read(sql::kGetJob, id);
    if (r.empty()) return std::nullopt;
    return r[0].as<ProcessingJob>();
  });
}

std::vector<JobAttemptError> JobRepository::get_job_errors(std::int64_t id) {
  constexpr std::string_view op = "get_job_errors";
  detail::require_key(op, "id", id);
  return session_.call(op, [&] {
    auto r = session_.read(sql::kGetJobErrors, id);
    if (r.empty()) throw_not_found(op, id);
    std::vector<JobAttemptError> errors;
    errors.reserve(r.size());
    for (const auto& row : r) {
      if (row[2].is_null()) continue;  // the job has none
      errors.push_back(row.as<JobAttemptError>(1));
    }
    return errors;
  });
}

}  // namespace soundhash::db
