#include "soundhash/db/job_repository.hpp"

#include "checks.hpp"
#include "job_rows.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {

using detail::to_job;
using detail::to_jobs;

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
    return session_
        .read(
            "SELECT EXISTS (SELECT 1 FROM processing_jobs WHERE job_type = $1 "
            "AND target_id = $2 AND status = ANY ($3))",
            job_type, target_id, statuses)
        .one()[0]
        .as<bool>();
  });
}

// The race-free mechanism lives in the database function (migration 2, see
// src/migrations.cpp): creators of one (type, target) serialise on a lock row,
// and a stale snapshot at REPEATABLE READ / SERIALIZABLE turns into a 40001
// instead of a duplicate. One statement, one round trip.
namespace {

std::pair<ProcessingJob, bool> create_if_absent(
    Session& session, std::string_view job_type, std::string_view target_id,
    const std::optional<std::string>& parameters, std::int32_t priority,
    std::int32_t max_retries, std::chrono::milliseconds delay,
    const std::vector<std::string>& check_statuses) {
  return session.call("create_job_if_not_exists", [&] {
    // A job already there is found without writing: then, leading a READ
    // COMMITTED unit, the call costs one round trip and leaves nothing open.
    auto row = session
                   .ensure(
                       "SELECT r.created, (r.job).* FROM "
                       "soundhash_create_job_if_not_exists($1, $2, $3, $4, "
                       "$5, $6, $7) r",
                       job_type, target_id, parameters, check_statuses,
                       priority, max_retries, delay.count())
                   .one();
    // `created` first: the job's columns end the row, so a column a later
    // migration adds to processing_jobs cannot shift what this code reads.
    std::pair<ProcessingJob, bool> out{to_job(row, 1), row[0].as<bool>()};
    const auto& job = out.first;
    if (out.second) {
      logger().info("Created new processing job: type={}, target={}, id={}",
                    job.job_type, job.target_id, job.id);
    } else {
      logger().debug("Job already exists: type={}, target={}, status={}",
                     job.job_type, job.target_id, job.status);
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
  const NewJob defaults;
  return create_if_absent(session_, job_type, target_id, parameters,
                          defaults.priority, defaults.max_retries,
                          defaults.delay, check_statuses);
}

std::pair<ProcessingJob, bool> JobRepository::create_job_if_not_exists(
    const NewJob& job, const std::vector<std::string>& check_statuses) {
  constexpr std::string_view op = "create_job_if_not_exists";
  detail::require_new_job(op, job);
  detail::require_statuses(op, check_statuses);
  return create_if_absent(session_, job.job_type, job.target_id, job.parameters,
                          job.priority, job.max_retries, job.delay,
                          check_statuses);
}

std::vector<ProcessingJob> JobRepository::get_pending_jobs(
    std::optional<std::string_view> job_type, int limit) {
  if (job_type) detail::require_id("get_pending_jobs", "job_type", *job_type);
  detail::require_limit("get_pending_jobs", limit);
  // Pending jobs are indexed per type in claim order (migrations 6 and 7).
  // For one type that index is read in order; for all, the types with
  // pending jobs are found by hopping through the index (one lookup per
  // type) and their fronts merged, so neither reads the whole backlog. Each
  // query states the index's predicate (SH_PENDING) to be able to read it.
  return session_.call("get_pending_jobs", [&] {
    if (job_type) {
      return to_jobs(session_.read(
          "SELECT " SH_JOB_COLS " FROM processing_jobs q WHERE " SH_PENDING
          " AND q.job_type = $1 ORDER BY q.priority, q.run_at, q.id "
          "LIMIT $2",
          *job_type, limit));
    }
    return to_jobs(session_.read(
        "WITH RECURSIVE t (pending_type) AS ((SELECT q.job_type FROM "
        "processing_jobs q WHERE " SH_PENDING
        " ORDER BY q.job_type LIMIT 1) UNION ALL SELECT (SELECT "
        "q.job_type FROM processing_jobs q WHERE " SH_PENDING
        " AND q.job_type > t.pending_type ORDER BY "
        "q.job_type LIMIT 1) FROM t WHERE t.pending_type IS "
        "NOT NULL) SELECT " SH_JOB_COLS
        " FROM t CROSS JOIN LATERAL (SELECT * FROM "
        "processing_jobs q "
        "WHERE " SH_PENDING
        " AND q.job_type = t.pending_type ORDER BY "
        "q.priority, q.run_at, q.id LIMIT $1) c "
        "ORDER BY priority, run_at, id LIMIT $1",
        limit));
  });
}

std::vector<ProcessingJob> JobRepository::get_jobs_by_target(
    std::string_view target_id, std::optional<std::string_view> job_type) {
  detail::require_id("get_jobs_by_target", "target_id", target_id);
  if (job_type) detail::require_id("get_jobs_by_target", "job_type", *job_type);
  return session_.call("get_jobs_by_target", [&] {
    return to_jobs(session_.read(
        "SELECT " SH_JOB_COLS
        " FROM processing_jobs WHERE target_id = $1 AND "
        "($2::text IS NULL OR job_type = $2) ORDER BY created_at DESC, id DESC",
        target_id, job_type));
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
    auto r = session_.execute(
        "UPDATE processing_jobs SET status = $2::text, "
        "progress = coalesce($3, progress), "
        "current_step = coalesce($4, current_step), "
        "error_message = coalesce($5, error_message), "
        "started_at = CASE WHEN $2::text = 'running' THEN coalesce(started_at, "
        "now()) "
        "ELSE started_at END, "
        "completed_at = CASE WHEN $2::text IN ('completed', 'failed', "
        "'cancelled') "
        "THEN now() ELSE completed_at END, "
        "heartbeat_at = CASE WHEN $2::text = 'running' THEN now() "
        "ELSE heartbeat_at END "
        "WHERE id = $1 RETURNING " SH_JOB_COLS,
        id, status, progress, current_step, error_message);
    if (r.empty()) return std::nullopt;
    return to_job(r[0]);
  });
}

std::map<std::string, std::int64_t> JobRepository::count_jobs_by_status(
    std::optional<std::string_view> job_type) {
  if (job_type) {
    detail::require_id("count_jobs_by_status", "job_type", *job_type);
  }
  return session_.call("count_jobs_by_status", [&] {
    std::map<std::string, std::int64_t> out;
    for (const auto& row :
         session_.read("SELECT status, count(*) FROM processing_jobs WHERE "
                       "($1::text IS NULL OR job_type = $1) GROUP BY status",
                       job_type)) {
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
    for (const auto& row : session_.read(
             "SELECT DISTINCT target_id FROM processing_jobs WHERE job_type = "
             "$1 AND target_id = ANY ($2) AND status = ANY ($3)",
             job_type, target_ids, statuses)) {
      copy[row[0].as<std::string>()] = true;
    }
    return copy;
  });
}

}  // namespace soundhash::db
