#include "soundhash/db/job_repository.hpp"

#include <spdlog/logger.h>

#include "checks.hpp"
#include "soundhash/db/log.hpp"
#include "sql/jobs.hpp"

namespace soundhash::db {

namespace sql = detail::sql;

const std::vector<std::string>& JobRepository::default_check_statuses() {
  static const std::vector<std::string> statuses{"pending", "running"};
  return statuses;
}

ProcessingJob JobRepository::create_job(std::string_view job_type,
                                        std::string_view target_id,
                                        std::optional<std::string> parameters) {
  NewJob job;
  job.job_type = job_type;
  job.target_id = target_id;
  job.parameters = std::move(parameters);
  return create_job(job);  // one INSERT for both forms (src/job_queue.cpp)
}

bool JobRepository::job_exists(std::string_view job_type,
                               std::string_view target_id,
                               const std::vector<std::string>& statuses) {
  detail::require_id("job_exists", "job_type", job_type);
  detail::require_id("job_exists", "target_id", target_id);
  detail::require_statuses("job_exists", statuses);
  return session_.call("job_exists", [&] {
    return session_.read(sql::kJobExists, job_type, target_id, statuses)
        .as<bool>();
  });
}

// The race-free mechanism lives in the database function (see
// domain/schema/0002_race-free_job_creation.sql): creators of one (type,
// target) serialise on a lock row, and a stale snapshot at REPEATABLE READ /
// SERIALIZABLE turns into a 40001 instead of a duplicate. One statement, one
// round trip.
namespace {

std::pair<ProcessingJob, bool> create_if_absent(
    Session& session, const NewJob& job,
    const std::vector<std::string>& check_statuses) {
  std::optional<std::int64_t> timeout_ms;
  if (job.timeout) timeout_ms = job.timeout->count();
  return session.call("create_job_if_not_exists", [&] {
    // A job already there is found without writing: then, leading a READ
    // COMMITTED unit, the call costs one round trip and leaves nothing open.
    auto row = session
                   .ensure(sql::kCreateJobIfNotExists, job.job_type,
                           job.target_id, job.parameters, check_statuses,
                           job.priority, job.max_retries, job.delay.count(),
                           timeout_ms, job.concurrency_key)
                   .one();
    std::pair<ProcessingJob, bool> out{row.as<ProcessingJob>(1),
                                       row[0].as<bool>()};
    const auto& found = out.first;
    if (out.second) {
      logger().info("Created new processing job: type={}, target={}, id={}",
                    found.job_type, found.target_id, found.id);
    } else {
      logger().debug("Job already exists: type={}, target={}, status={}",
                     found.job_type, found.target_id, found.status);
    }
    return out;
  });
}

}  // namespace

std::pair<ProcessingJob, bool> JobRepository::create_job_if_not_exists(
    std::string_view job_type, std::string_view target_id,
    std::optional<std::string> parameters,
    const std::vector<std::string>& check_statuses) {
  constexpr std::string_view op = "create_job_if_not_exists";
  detail::require_id(op, "job_type", job_type);
  detail::require_id(op, "target_id", target_id);
  detail::require_statuses(op, check_statuses);
  NewJob job;
  job.job_type = job_type;
  job.target_id = target_id;
  job.parameters = std::move(parameters);
  return create_if_absent(session_, job, check_statuses);
}

std::pair<ProcessingJob, bool> JobRepository::create_job_if_not_exists(
    const NewJob& job, const std::vector<std::string>& check_statuses) {
  constexpr std::string_view op = "create_job_if_not_exists";
  detail::require_new_job(op, job);
  detail::require_statuses(op, check_statuses);
  return create_if_absent(session_, job, check_statuses);
}

std::vector<ProcessingJob> JobRepository::get_pending_jobs(
    std::optional<std::string_view> job_type, int limit) {
  if (job_type) detail::require_id("get_pending_jobs", "job_type", *job_type);
  detail::require_limit("get_pending_jobs", limit);
  return session_.call("get_pending_jobs", [&] {
    if (job_type) {
      return session_.read(sql::kGetPendingJobsOfType, *job_type, limit)
          .as_vector<ProcessingJob>();
    }
    return session_.read(sql::kGetPendingJobs, limit)
        .as_vector<ProcessingJob>();
  });
}

std::vector<ProcessingJob> JobRepository::get_jobs_by_target(
    std::string_view target_id, std::optional<std::string_view> job_type) {
  detail::require_id("get_jobs_by_target", "target_id", target_id);
  if (job_type) detail::require_id("get_jobs_by_target", "job_type", *job_type);
  return session_.call("get_jobs_by_target", [&] {
    return session_.read(sql::kGetJobsByTarget, target_id, job_type)
        .as_vector<ProcessingJob>();
  });
}

std::optional<ProcessingJob> JobRepository::update_job_status(
    std::int64_t id, std::string_view status, std::optional<double> progress,
    std::optional<std::string> current_step,
    std::optional<std::string> error_message) {
  constexpr std::string_view op = "update_job_status";
  detail::require_key(op, "id", id);
  detail::require_status(op, status);
  if (progress) detail::require_finite(op, "progress", *progress, 0, 100);
  return session_.call(op, [&]() -> std::optional<ProcessingJob> {
    auto r = session_.execute(sql::kUpdateJobStatus, id, status, progress,
                              current_step, error_message);
    if (r.empty()) return std::nullopt;
    return r[0].as<ProcessingJob>();
  });
}

std::map<std::string, std::int64_t> JobRepository::count_jobs_by_status(
    std::optional<std::string_view> job_type) {
  if (job_type) {
    detail::require_id("count_jobs_by_status", "job_type", *job_type);
  }
  return session_.call("count_jobs_by_status", [&] {
    std::map<std::string, std::int64_t> out;
    for (const auto& row : session_.read(sql::kCountJobsByStatus, job_type)) {
      out.emplace(row[0].as<std::string>(), row[1].as<std::int64_t>());
    }
    return out;
  });
}

std::map<std::string, bool> JobRepository::jobs_exist_batch(
    std::string_view job_type, const std::vector<std::string>& target_ids,
    const std::vector<std::string>& statuses) {
  constexpr std::string_view op = "jobs_exist_batch";
  detail::require_id(op, "job_type", job_type);
  detail::require_statuses(op, statuses);
  for (const auto& t : target_ids) detail::require_id(op, "target_ids[i]", t);
  std::map<std::string, bool> out;
  for (const auto& t : target_ids) out.emplace(t, false);
  if (target_ids.empty()) return out;
  return session_.call(op, [&] {
    auto copy = out;
    for (const auto& row :
         session_.read(sql::kJobsExistBatch, job_type, target_ids, statuses)) {
      copy[row[0].as<std::string>()] = true;
    }
    return copy;
  });
}

}  // namespace soundhash::db
