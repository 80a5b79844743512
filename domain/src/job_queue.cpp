// JobRepository's work-queue methods: create with options, claim, heartbeat,
// complete, fail with backoff, rescue, release, purge. Each is one statement
// (one round trip; in an autocommit session the COMMIT rides along), and each
// that acts for a worker changes a job only while that worker owns it (status
// running, locked_by = worker).

#include <spdlog/logger.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "checks.hpp"
#include "claim_statements.hpp"
#include "queue_events.hpp"
#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/log.hpp"
#include "sql/queue.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

// The retry delays passed to fail_job's statement: entry k is the wait after a
// failure with k earlier retries; later retries use the last entry (by then
// the delay is at `max` for any sane backoff).
constexpr int kDelaySteps = 32;

// NewJob::timeout as the statements' timeout_ms (NULL: none).
std::optional<std::int64_t> timeout_ms(const NewJob& job) {
  if (!job.timeout) return std::nullopt;
  return job.timeout->count();
}

void require_worker(std::string_view op, std::string_view worker_id) {
  detail::require_id(op, "worker_id", worker_id);
}

// The checks of a call that acts for `worker_id` on `job_ids`.
void require_batch(std::string_view op,
                   const std::vector<std::int64_t>& job_ids,
                   std::string_view worker_id) {
  for (auto id : job_ids) detail::require_key(op, "job_ids[i]", id);
  require_worker(op, worker_id);
}

// The first column of `r`: the job ids a statement returned.
std::vector<std::int64_t> ids_of(const Result& r) {
  std::vector<std::int64_t> ids;
  ids.reserve(r.size());
  for (const auto& row : r) ids.push_back(row[0].as<std::int64_t>());
  return ids;
}

void require_types(std::string_view op,
                   const std::vector<std::string>& job_types) {
  if (job_types.empty()) {
    throw InvalidArgument(std::string(op) + ": job_types must not be empty");
  }
  for (const auto& t : job_types) detail::require_id(op, "job_types[i]", t);
}

void check_backoff(std::string_view op, const JobBackoff& b) {
  if (b.initial.count() < 0 || b.max < b.initial ||
      !std::isfinite(b.multiplier) || b.multiplier < 1 ||
      !(b.jitter >= 0 && b.jitter <= 1)) {
    throw InvalidArgument(std::string(op) +
                          ": backoff needs 0 <= initial <= max, a finite "
                          "multiplier >= 1 and a jitter in [0, 1]");
  }
}

// A uniform draw in [0, 1) for the backoff's jitter; one generator per thread,
// so workers need no lock and do not draw the same sequence.
double unit_random() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(engine);
}

// The waits without jitter, by retries so far, for the statements that draw
// the jitter per row (heartbeat timeouts, rescues).
std::vector<std::int64_t> plain_delays(const JobBackoff& backoff) {
  std::vector<std::int64_t> delays(kDelaySteps);
  for (int k = 0; k < kDelaySteps; ++k) delays[k] = backoff.delay(k).count();
  return delays;
}

[[noreturn]] void throw_not_owned(std::string_view op, std::int64_t job_id,
                                  std::string_view worker_id,
                                  const std::optional<std::string>& status,
                                  const std::optional<std::string>& owner) {
  if (!status) {
    throw JobNotOwned(fmt::format("{}: job {} does not exist", op, job_id),
                      job_id);
  }
  throw JobNotOwned(
      fmt::format("{}: job {} is not running under worker '{}' (status {}, "
                  "locked by {}); it was rescued, cancelled or finished "
                  "elsewhere; nothing was changed",
                  op, job_id, worker_id, *status,
                  owner ? "'" + *owner + "'" : std::string("nobody")),
      job_id);
}

// Throws JobNotOwned unless the row (the job's status and owner before, then
// the changed job; see sql/queue.hpp) shows that the statement changed it.
void require_owned(std::string_view op, const Row& row, std::int64_t job_id,
                   std::string_view worker_id) {
  if (!row[2].is_null()) return;
  throw_not_owned(op, job_id, worker_id,
                  row[0].as<std::optional<std::string>>(),
                  row[1].as<std::optional<std::string>>());
}

}  // namespace

std::chrono::milliseconds JobBackoff::delay(int retries) const {
  double ms = static_cast<double>(initial.count());
  const auto cap = static_cast<double>(max.count());
  for (int i = 0; i < retries && ms < cap; ++i) ms *= multiplier;
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::min(ms, cap)));
}

std::chrono::milliseconds JobBackoff::delay(int retries,
                                            double unit_random) const {
  const auto full = delay(retries);
  if (jitter <= 0) return full;
  const double u = std::clamp(unit_random, 0.0, 1.0);
  const auto d = static_cast<double>(full.count());
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::llround(d - d * jitter * u)));
}

ProcessingJob JobRepository::create_job(const NewJob& job) {
  detail::require_new_job("create_job", job);
  return session_.call("create_job", [&] {
    auto created =
        session_
            .execute_final(sql::kCreateJob, job.job_type, job.target_id,
                           job.parameters, job.priority, job.max_retries,
                           job.delay.count(), timeout_ms(job),
                           job.concurrency_key)
            .one()
            .as<ProcessingJob>();
    logger().info("Created new processing job: type={}, target={}, id={}",
                  created.job_type, created.target_id, created.id);
    return created;
  });
}

std::vector<std::int64_t> JobRepository::create_jobs_batch(
    std::span<const NewJob> jobs) {
  constexpr std::string_view op = "create_jobs_batch";
  for (const auto& j : jobs) detail::require_new_job(op, j);
  if (jobs.empty()) return {};
  std::vector<std::string> types, targets;
  std::vector<std::optional<std::string>> params, keys;
  std::vector<std::int64_t> priorities, max_retries, delays;
  std::vector<std::optional<std::int64_t>> timeouts;
  for (auto* v : {&types, &targets}) v->reserve(jobs.size());
  params.reserve(jobs.size());
  keys.reserve(jobs.size());
  timeouts.reserve(jobs.size());
  for (auto* v : {&priorities, &max_retries, &delays}) v->reserve(jobs.size());
  for (const auto& j : jobs) {
    types.push_back(j.job_type);
    targets.push_back(j.target_id);
    params.push_back(j.parameters);
    priorities.push_back(j.priority);
    max_retries.push_back(j.max_retries);
    delays.push_back(j.delay.count());
    timeouts.push_back(timeout_ms(j));
    keys.push_back(j.concurrency_key);
  }
  return session_.call(op, [&] {
    auto r =
        session_.execute_final(sql::kCreateJobsBatch, types, targets, params,
                               priorities, max_retries, delays, timeouts, keys);
    auto ids = ids_of(r);
    std::sort(ids.begin(), ids.end());
    logger().info("Created {} processing jobs", ids.size());
    return ids;
  });
}

std::optional<ProcessingJob> JobRepository::claim_next_job(
    const std::vector<std::string>& job_types, std::string_view worker_id) {
  constexpr std::string_view op = "claim_next_job";
  require_types(op, job_types);
  require_worker(op, worker_id);
  const detail::Claim claim(detail::ClaimShape::kNext, job_types);
  auto job = session_.call(op, [&]() -> std::optional<ProcessingJob> {
    auto r = session_.execute_final(claim.sql(), claim.types(), worker_id);
    if (r.empty()) return std::nullopt;
    return r[0].as<ProcessingJob>();
  });
  if (job) detail::report_claimed(session_, {&*job, 1});
  return job;
}

std::vector<ProcessingJob> JobRepository::claim_jobs(
    const std::vector<std::string>& job_types, std::string_view worker_id,
    int n) {
  constexpr std::string_view op = "claim_jobs";
  require_types(op, job_types);
  require_worker(op, worker_id);
  detail::require_limit(op, n);
  const detail::Claim claim(detail::ClaimShape::kBatch, job_types);
  auto jobs = session_.call(op, [&] {
    return session_.execute_final(claim.sql(), claim.types(), worker_id, n)
        .as_vector<ProcessingJob>();
  });
  detail::report_claimed(session_, jobs);
  return jobs;
}

void JobRepository::heartbeat(std::int64_t job_id, std::string_view worker_id,
                              std::optional<double> progress,
                              std::optional<std::string> current_step,
                              const JobBackoff& backoff) {
  constexpr std::string_view op = "heartbeat";
  detail::require_key(op, "job_id", job_id);
  require_worker(op, worker_id);
  if (progress) detail::require_finite(op, "progress", *progress, 0, 100);
  check_backoff(op, backoff);
  const auto delays = plain_delays(backoff);
  session_.call(op, [&] {
    auto r =
        session_.execute_final(sql::kHeartbeat, job_id, worker_id, progress,
                               current_step, delays, backoff.jitter);
    const auto row = r.one();
    if (row[3].as<std::int64_t>() > 0) {
      logger().warn("Job timed out: id={}, worker={}", job_id, worker_id);
      throw JobTimedOut(
          fmt::format("{}: job {} ran past its timeout; the heartbeat ended "
                      "the attempt, so worker '{}' no longer owns it",
                      op, job_id, worker_id),
          job_id);
    }
    require_owned(op, row, job_id, worker_id);
  });
}

std::vector<std::int64_t> JobRepository::complete_jobs(
    const std::vector<std::int64_t>& job_ids, std::string_view worker_id) {
  constexpr std::string_view op = "complete_jobs";
  require_batch(op, job_ids, worker_id);
  if (job_ids.empty()) return {};
  // Reported after the unit's statement, as complete_job does: only the jobs
  // this call completed, by type (a retried call starts the list afresh).
  std::vector<std::pair<std::int64_t, std::string>> completed;
  auto lost = session_.call(op, [&] {
    // A job this worker already completed counts as done: repeating the call
    // after a CommitInDoubt is harmless.
    auto r = session_.execute_final(sql::kCompleteJobs, job_ids, worker_id);
    completed.clear();
    std::vector<std::int64_t> not_owned;
    for (const auto& row : r) {
      if (row[1].as<bool>()) {
        completed.emplace_back(
            row[0].as<std::int64_t>(),
            row[2].as<std::optional<std::string>>().value_or(""));
      } else {
        not_owned.push_back(row[0].as<std::int64_t>());
      }
    }
    if (!not_owned.empty()) {
      logger().warn(
          "{}: worker '{}' no longer owned {} of {} jobs; they were left alone",
          op, worker_id, not_owned.size(), job_ids.size());
    }
    return not_owned;
  });
  for (const auto& [id, type] : completed) {
    detail::report_job(session_, JobChange::completed, type, id);
  }
  return lost;
}

void JobRepository::complete_job(std::int64_t job_id,
                                 std::string_view worker_id) {
  constexpr std::string_view op = "complete_job";
  detail::require_key(op, "job_id", job_id);
  require_worker(op, worker_id);
  const auto completed_type = session_.call(op, [&] {
    auto r = session_.execute_final(sql::kCompleteJob, job_id, worker_id);
    const auto row = r.one();
    if (row[0].as<std::optional<std::string>>() == "completed" &&
        row[1].as<std::optional<std::string>>() == worker_id) {
      return std::optional<std::string>();  // already completed by this worker
    }
    require_owned(op, row, job_id, worker_id);
    return row[3].as<std::optional<std::string>>();
  });
  if (completed_type) {
    detail::report_job(session_, JobChange::completed, *completed_type, job_id);
  }
}

std::optional<ProcessingJob> JobRepository::complete_job_and_claim_next(
    std::int64_t job_id, std::string_view worker_id,
    const std::vector<std::string>& job_types) {
  constexpr std::string_view op = "complete_job_and_claim_next";
  detail::require_key(op, "job_id", job_id);
  require_worker(op, worker_id);
  require_types(op, job_types);
  const detail::Claim claim(detail::ClaimShape::kCompleteAndClaim, job_types);
  std::optional<std::string> completed_type;
  auto next = session_.call(op, [&]() -> std::optional<ProcessingJob> {
    auto r =
        session_.execute_final(claim.sql(), claim.types(), worker_id, job_id);
    const auto row = r.one();
    completed_type = row[row.size() - 1].as<std::optional<std::string>>();
    if (row[2].as<std::int64_t>() == 0 &&
        !(row[0].as<std::optional<std::string>>() == "completed" &&
          row[1].as<std::optional<std::string>>() == worker_id)) {
      throw_not_owned(op, job_id, worker_id,
                      row[0].as<std::optional<std::string>>(),
                      row[1].as<std::optional<std::string>>());
    }
    if (row[3].is_null()) return std::nullopt;
    return row.as<ProcessingJob>(3);
  });
  if (completed_type) {
    detail::report_job(session_, JobChange::completed, *completed_type, job_id);
  }
  if (next) detail::report_claimed(session_, {&*next, 1});
  return next;
}

ProcessingJob JobRepository::fail_job(std::int64_t job_id,
                                      std::string_view worker_id,
                                      std::string_view error,
                                      const JobBackoff& backoff) {
  constexpr std::string_view op = "fail_job";
  detail::require_key(op, "job_id", job_id);
  require_worker(op, worker_id);
  check_backoff(op, backoff);
  std::vector<std::int64_t> delays(kDelaySteps);
  for (int k = 0; k < kDelaySteps; ++k) {
    delays[k] = backoff.delay(k, unit_random()).count();
  }
  auto failed = session_.call(op, [&] {
    auto r =
        session_.execute_final(sql::kFailJob, job_id, worker_id, error, delays);
    const auto row = r.one();
    require_owned(op, row, job_id, worker_id);
    auto job = row.as<ProcessingJob>(2);
    if (job.status == job_status::pending) {
      logger().warn(
          "Job failed, will retry: id={}, type={}, target={}, retry {}/{}: {}",
          job.id, job.job_type, job.target_id, job.retry_count, job.max_retries,
          error);
    } else {
      logger().error(
          "Job failed for good: id={}, type={}, target={}, after {} "
          "attempts: {}",
          job.id, job.job_type, job.target_id, job.attempts, error);
    }
    return job;
  });
  detail::report_job(session_, JobChange::failed, failed.job_type, failed.id,
                     failed.status == job_status::pending);
  return failed;
}

std::vector<ProcessingJob> JobRepository::rescue_stale_jobs(
    std::chrono::milliseconds older_than, const JobBackoff& backoff) {
  constexpr std::string_view op = "rescue_stale_jobs";
  if (older_than.count() <= 0) {
    throw InvalidArgument(std::string(op) + ": older_than must be > 0");
  }
  check_backoff(op, backoff);
  const auto delays = plain_delays(backoff);
  auto rescued = session_.call(op, [&] {
    auto jobs = session_
                    .execute_final(sql::kRescueStaleJobs, older_than.count(),
                                   delays, backoff.jitter)
                    .as_vector<ProcessingJob>();
    for (const auto& j : jobs) {
      logger().warn("Rescued stale job: id={}, type={}, target={}, now {}: {}",
                    j.id, j.job_type, j.target_id, j.status,
                    j.error_message.value_or(""));
    }
    return jobs;
  });
  for (const auto& j : rescued) {
    detail::report_job(session_, JobChange::rescued, j.job_type, j.id,
                       j.status == job_status::pending);
  }
  return rescued;
}

std::vector<std::int64_t> JobRepository::release_jobs(
    const std::vector<std::int64_t>& job_ids, std::string_view worker_id) {
  constexpr std::string_view op = "release_jobs";
  require_batch(op, job_ids, worker_id);
  if (job_ids.empty()) return {};
  return session_.call(op, [&] {
    auto r = session_.execute_final(sql::kReleaseJobs, job_ids, worker_id);
    auto lost = ids_of(r);
    logger().info("{}: worker '{}' released {} of {} jobs", op, worker_id,
                  job_ids.size() - lost.size(), job_ids.size());
    return lost;
  });
}

std::int64_t JobRepository::purge_finished_jobs(
    std::chrono::milliseconds older_than, int max_jobs) {
  constexpr std::string_view op = "purge_finished_jobs";
  if (older_than.count() <= 0) {
    throw InvalidArgument(std::string(op) + ": older_than must be > 0");
  }
  detail::require_limit(op, max_jobs);
  return session_.call(op, [&] {
    // One server function: in an autocommit session one round trip, so the
    // rows it locks are held for one call. SKIP LOCKED: concurrent purgers
    // split the work instead of queueing on each other, and a job someone is
    // changing (say `jobs retry` putting a failed job back) or a key a
    // creator holds is left for the next call.
    const auto row =
        session_
            .execute_final(sql::kPurgeFinishedJobs,
                           static_cast<std::int64_t>(older_than.count()),
                           max_jobs)
            .one();
    const auto n = row[0].as<std::int64_t>();
    if (n > 0) {
      logger().info("{}: deleted {} finished jobs ({} keys left with none)", op,
                    n, row[1].as<std::int64_t>());
    }
    return n;
  });
}

std::optional<std::chrono::milliseconds> JobRepository::oldest_runnable_wait(
    const std::vector<std::string>& job_types) {
  constexpr std::string_view op = "oldest_runnable_wait";
  for (const auto& t : job_types) detail::require_id(op, "job_types[i]", t);
  return session_.call(op, [&]() -> std::optional<std::chrono::milliseconds> {
    const auto row =
        session_.execute_final(sql::kOldestRunnableWait, job_types).one();
    if (row[0].is_null()) return std::nullopt;
    return std::chrono::milliseconds{row[0].as<std::int64_t>()};
  });
}

}  // namespace soundhash::db
