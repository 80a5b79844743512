#pragma once
// Waking idle workers when jobs arrive, instead of polling fast.
//
//   db::JobListener listener{database, {"fingerprint"}};  // LISTENs now
//   auto s = database.autocommit_session();
//   db::JobRepository jobs{s};
//   while (!stopping) {
//     while (auto job = jobs.claim_next_job({"fingerprint"}, me)) { ... }
//     listener.wait_for_jobs(std::chrono::seconds(30));  // or poll then
//   }
//
// Create the listener before the first claim: a job created between a claim
// that found nothing and the wait is then not missed.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace soundhash::db {

class Database;

/// Blocks a worker until a job of its types is created (or goes back to
/// pending), using LISTEN/NOTIFY on a connection of its own (not from the
/// pool). Notifications are sent at commit, so a rolled-back creation wakes
/// nobody. A job whose run_at is ahead (a delay, a retry's backoff) wakes it
/// when the job comes due, if the listener heard of it. When the connection is
/// lost the listener falls back to polling: each wait tries to reconnect and
/// otherwise just sleeps its timeout. Not thread-safe, except interrupt().
/// Behind PgBouncer in transaction pooling mode LISTEN does not work: connect
/// the listener to the server directly, or rely on the timeout.
class JobListener {
 public:
  /// Listens for jobs of `job_types` (any type when empty) on the server of
  /// `db`'s config (`db` need not outlive the listener). A server that is
  /// down now is not an error: the listener polls until it is back.
  explicit JobListener(Database& db, std::vector<std::string> job_types = {});
  ~JobListener();
  JobListener(const JobListener&) = delete;
  JobListener& operator=(const JobListener&) = delete;

  /// Waits up to `timeout` (>= 0) for a new job. True when jobs may be
  /// waiting: a notification came, an announced delayed job came due, or the
  /// listener just (re)connected or lost its connection, so notifications may
  /// have been missed; claim now.
  /// False when the timeout passed quietly or interrupt() was called.
  bool wait_for_jobs(std::chrono::milliseconds timeout);

  /// Makes the current (or next) wait_for_jobs return false at once. Safe
  /// from another thread or a signal handler.
  void interrupt() noexcept;

  /// True while the listening connection is up.
  [[nodiscard]] bool connected() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace soundhash::db
