#pragma once
// The errors of JobRepository's calls on one job by id (cancel_job,
// get_job_errors) and of a heartbeat that finds its attempt timed out. None
// is retried, and a call that throws one changed nothing (except
// JobTimedOut: see there).

#include <cstdint>
#include <string>
#include <utility>

#include "soundhash/db/errors.hpp"

namespace soundhash::db {

/// No job has the id a call named. Nothing was changed.
class JobNotFound : public Error {
 public:
  /// `job_id` is the job the call named.
  JobNotFound(const std::string& message, std::int64_t job_id)
      : Error(message), job_id_(job_id) {}
  /// The job the call named.
  [[nodiscard]] std::int64_t job_id() const noexcept { return job_id_; }

 private:
  std::int64_t job_id_;
};

/// The job a call named has already finished (completed, failed or
/// cancelled), so there is nothing left to cancel. Nothing was changed.
class JobAlreadyFinished : public Error {
 public:
  /// `job_id` is the job the call named, `status` the status it has.
  JobAlreadyFinished(const std::string& message, std::int64_t job_id,
                     std::string status)
      : Error(message), job_id_(job_id), status_(std::move(status)) {}
  /// The job the call named.
  [[nodiscard]] std::int64_t job_id() const noexcept { return job_id_; }
  /// Its status: completed, failed or cancelled.
  [[nodiscard]] const std::string& status() const noexcept { return status_; }

 private:
  std::int64_t job_id_;
  std::string status_;
};

/// A heartbeat found that the job's attempt ran past NewJob::timeout. The
/// heartbeat ended the attempt (back to pending while retries remain, else
/// failed) and recorded the timeout in the job's error history, so this
/// worker no longer owns the job: it should stop working on it.
class JobTimedOut : public JobNotOwned {
 public:
  using JobNotOwned::JobNotOwned;
};

}  // namespace soundhash::db
