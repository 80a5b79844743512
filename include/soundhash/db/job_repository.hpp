#pragma once
// Processing jobs.
//
//   auto repo = db::job_repository();
//   auto [job, created] = repo->create_job_if_not_exists("video_process",
//   "vid123"); if (created) { /* this call made it; exactly one caller ever
//   sees true */ }
//
// Same call rules as VideoRepository: one Session call per method, checked
// arguments, no commits of its own.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "soundhash/db/models.hpp"
#include "soundhash/db/session.hpp"

namespace soundhash::db {

/// Processing jobs (table `processing_jobs`), including race-free idempotent
/// creation. Works in the Session it is given and never commits on its own.
class JobRepository {
 public:
  /// Statuses that count as "a job is already there" by default.
  static const std::vector<std::string>& default_check_statuses();

  /// A repository working in `session`, which must outlive it.
  explicit JobRepository(Session& session) noexcept : session_(session) {}

  /// The session this repository works in.
  [[nodiscard]] Session& session() const noexcept { return session_; }

  /// Inserts a pending job unconditionally (see create_job_if_not_exists).
  ProcessingJob create_job(
      std::string_view job_type, std::string_view target_id,
      std::optional<std::string> parameters = std::nullopt);

  /// True if a job of `job_type` for `target_id` has a status in `statuses`.
  bool job_exists(
      std::string_view job_type, std::string_view target_id,
      const std::vector<std::string>& statuses = default_check_statuses());

  /// Returns the newest job of (`job_type`, `target_id`) whose status is in
  /// `check_statuses` with false, or creates a pending one and returns it
  /// with true. Race-free across threads and processes: for one (type,
  /// target) and one set of statuses, exactly one caller gets true. At
  /// REPEATABLE READ or SERIALIZABLE a racing creator can make this throw
  /// SerializationError, which Database::transact retries.
  std::pair<ProcessingJob, bool> create_job_if_not_exists(
      std::string_view job_type, std::string_view target_id,
      std::optional<std::string> parameters = std::nullopt,
      const std::vector<std::string>& check_statuses =
          default_check_statuses());

  /// Up to `limit` (> 0) pending jobs, oldest first, of `job_type` if given.
  std::vector<ProcessingJob> get_pending_jobs(
      std::optional<std::string_view> job_type = std::nullopt, int limit = 10);
  /// Takes the oldest pending job of `job_type` for this worker: marks it
  /// running (started_at = now) and returns it; nullopt if none is pending.
  /// Concurrent workers never get the same job (FOR UPDATE SKIP LOCKED), and
  /// none waits on another's claim.
  std::optional<ProcessingJob> claim_next_job(std::string_view job_type);
  /// Jobs for `target_id`, newest first, of `job_type` if given.
  std::vector<ProcessingJob> get_jobs_by_target(
      std::string_view target_id,
      std::optional<std::string_view> job_type = std::nullopt);
  /// Sets a job's status (and progress, step, error when given). Sets
  /// started_at on the first move to running and completed_at on completed,
  /// failed or cancelled. Returns the updated job, nullopt if none has `id`.
  std::optional<ProcessingJob> update_job_status(
      std::int64_t id, std::string_view status,
      std::optional<double> progress = std::nullopt,
      std::optional<std::string> current_step = std::nullopt,
      std::optional<std::string> error_message = std::nullopt);
  /// Number of jobs per status (statuses with none are absent).
  std::map<std::string, std::int64_t> count_jobs_by_status(
      std::optional<std::string_view> job_type = std::nullopt);
  /// For each of `target_ids`, whether a `job_type` job in `statuses` exists;
  /// one round trip.
  std::map<std::string, bool> jobs_exist_batch(
      std::string_view job_type, const std::vector<std::string>& target_ids,
      const std::vector<std::string>& statuses = default_check_statuses());

 private:
  Session& session_;
};

}  // namespace soundhash::db
