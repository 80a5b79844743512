#pragma once
// Queue events: what JobRepository reports about jobs, to an observer that
// also derives from QueueObserver (the core's Observer knows nothing of
// jobs). Installed with the rest through Config::observer:
//
//   struct Metrics : db::Observer, db::QueueObserver {
//     void on_job(const db::JobEvent& e) noexcept override { ... }
//   };
//
// Reported when the repository call returns: in an autocommit session the
// change is committed by then; in a scoped unit it commits (or not) with the
// unit. Same threading rules as Observer.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace soundhash::db {

class Database;

/// What happened to a job.
enum class JobChange {
  claimed,    ///< a worker took it (wait = from its run_at to the claim)
  completed,  ///< its worker finished it
  failed,     ///< an attempt failed (retrying says whether it goes again)
  rescued,    ///< its worker went silent; it was taken back
  cancelled,  ///< cancelled before it finished
};

/// One job's change.
struct JobEvent {
  JobChange change = JobChange::claimed;
  /// The job's type: a bounded set, fit for a metric label.
  std::string_view job_type;
  std::int64_t job_id = 0;
  /// claimed: how long the job was runnable before this claim (from run_at).
  std::chrono::nanoseconds wait{0};
  /// failed and rescued: true if it went back to pending for another try.
  bool retrying = false;
};

/// Receives queue events; mix into an Observer (see the file comment).
class QueueObserver {
 public:
  virtual ~QueueObserver() = default;
  virtual void on_job(const JobEvent& /*event*/) noexcept {}
};

/// The QueueObserver of `database`'s observer, or null if it has none.
[[nodiscard]] QueueObserver* queue_observer(const Database& database) noexcept;

}  // namespace soundhash::db
