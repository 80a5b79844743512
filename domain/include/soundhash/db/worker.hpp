#pragma once
// The work queue's runtime: handlers per job type run on N threads, which
// claim, heartbeat, complete, fail, rescue and stop gracefully.
//
//   db::Worker worker{database, {.threads = 4}};
//   worker.on("fingerprint", [](db::JobContext& job) {
//     fingerprint(job.job().target_id);  // throw to fail the attempt
//   });
//   worker.run();  // until request_stop() (e.g. from a SIGTERM handler)
//
// See docs/guide/queue.md, "The Worker runtime".

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "soundhash/db/job_repository.hpp"
#include "soundhash/db/models.hpp"

namespace soundhash::db {

class Database;
class Session;

/// How a Worker runs. Durations must be positive unless said otherwise.
struct WorkerOptions {
  /// Threads, each running one job at a time (1..256).
  int threads = 1;
  /// Prefix of the worker ids ("<name>:<thread>"); "<host>:<pid>" when empty.
  std::string name;
  /// Longest idle sleep when no notification comes (LISTEN/NOTIFY wakes
  /// idle threads before that).
  std::chrono::milliseconds poll{std::chrono::seconds{5}};
  /// How often a running job's heartbeat (and its progress) is sent.
  std::chrono::milliseconds heartbeat_every{std::chrono::seconds{5}};
  /// A running job (of any worker) without a heartbeat for this long is
  /// rescued; 0 turns this worker's rescue off. Keep it well above
  /// heartbeat_every.
  std::chrono::milliseconds stale_after{std::chrono::seconds{60}};
  /// How often this worker tries to rescue; one process at a time does.
  std::chrono::milliseconds rescue_every{std::chrono::seconds{15}};
  /// How often this worker creates the jobs of due schedules
  /// (JobRepository::enqueue_due_schedules; each period's job is created
  /// once however many workers do this); 0 turns it off.
  std::chrono::milliseconds schedules_every{std::chrono::seconds{1}};
  /// How long stop() lets running handlers finish (>= 0).
  std::chrono::milliseconds stop_deadline{std::chrono::seconds{30}};
  /// The wait before a failed job's next attempt (a handler threw, the job
  /// timed out, or its worker died and it was rescued); fully jittered by
  /// default, so that a burst of failures does not come back as a burst.
  JobBackoff backoff{.jitter = 1.0};
  /// run() returns once no job of the handled types is pending (due or not)
  /// or running anywhere, instead of waiting for request_stop().
  bool until_idle = false;
};

/// What a Worker did so far.
struct WorkerStats {
  std::int64_t completed = 0;  ///< handlers returned, jobs completed
  std::int64_t failed = 0;     ///< handlers threw, attempts failed
  std::int64_t released = 0;   ///< claimed but unstarted jobs handed back
  std::int64_t lost = 0;       ///< jobs taken away meanwhile (JobNotOwned)
  std::int64_t rescued = 0;    ///< stale jobs of any worker this one rescued
  std::int64_t scheduled = 0;  ///< jobs this worker created for schedules
};

/// A running job as its handler sees it. Thread-safe.
class JobContext {
 public:
  JobContext(const JobContext&) = delete;
  JobContext& operator=(const JobContext&) = delete;

  /// The job, as claimed.
  [[nodiscard]] const ProcessingJob& job() const noexcept { return job_; }
  /// The id this job is locked by.
  [[nodiscard]] const std::string& worker_id() const noexcept {
    return worker_id_;
  }
  /// The Worker's database, for the handler's own units.
  [[nodiscard]] Database& database() const noexcept { return database_; }
  /// True once the handler should give up: the job was taken from this
  /// worker (cancel_job, NewJob::timeout, or a rescue; learnt at a
  /// heartbeat), or the worker's stop deadline passed. Whatever the handler
  /// then does, the job is not completed by it.
  [[nodiscard]] bool cancelled() const noexcept {
    return lost_.load() || deadline_passed_.load();
  }
  /// True once the worker was asked to stop (the job may still finish).
  [[nodiscard]] bool stopping() const noexcept;
  /// Records progress (percent) and the current step; sent with the next
  /// heartbeat, so it costs no round trip here.
  void progress(double percent, std::optional<std::string> step = {});
  /// Completes the job inside the handler's own unit `session`, so that
  /// its results and its completion commit together (exactly-once
  /// effects). Throws JobNotOwned if the job was taken away.
  void complete_in(Session& session);

 private:
  friend class Worker;
  JobContext(const ProcessingJob& job, std::string worker_id,
             Database& database, const std::atomic<bool>& stopping)
      : job_(job),
        worker_id_(std::move(worker_id)),
        database_(database),
        stopping_(stopping) {}

  const ProcessingJob& job_;
  const std::string worker_id_;
  Database& database_;
  const std::atomic<bool>& stopping_;
  std::atomic<bool> lost_{false};             // taken from this worker
  std::atomic<bool> deadline_passed_{false};  // the stop deadline
  std::atomic<bool> completed_{false};        // by complete_in
  mutable std::mutex mutex_;                  // guards the progress fields
  std::optional<double> progress_;
  std::optional<std::string> step_;
  bool progress_unsent_ = false;
};

/// Runs handlers for job types on `WorkerOptions::threads` threads. Each
/// thread claims one job at a time (completing a job and claiming the next
/// is one round trip), sleeps on LISTEN/NOTIFY when idle, and holds no
/// connection while a handler runs. A handler that returns completes its job;
/// one that throws fails it (back to pending after the backoff while retries
/// remain). A timer thread heartbeats running jobs and rescues stale ones
/// (one process at a time, by an advisory lock).
class Worker {
 public:
  /// A job's work: return to complete the job, throw to fail the attempt.
  using Handler = std::function<void(JobContext&)>;

  /// A worker on `database` (which must outlive it). Throws InvalidArgument
  /// for options out of range.
  explicit Worker(Database& database, WorkerOptions options = {});
  /// Stops (as stop()) if still running.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Runs `handler` for jobs of `job_type`. Before start() only; a type
  /// registered again replaces its handler.
  Worker& on(std::string job_type, Handler handler);

  /// Starts the threads (migrating nothing: the schema must be current).
  void start();
  /// Asks the worker to stop: no new job starts. Async-signal-safe (call it
  /// from a SIGTERM handler); run() then stops and returns.
  void request_stop() noexcept;
  /// Stops: no new job starts, claimed but unstarted jobs are released,
  /// running handlers get `stop_deadline` to finish, after which their
  /// context says cancelled() (a thread cannot be killed: stop waits for
  /// them). Returns true if every handler finished within the deadline.
  /// Rethrows a database error that stopped a thread.
  bool stop();
  /// start(), then waits for request_stop() (or, with until_idle, an idle
  /// queue), then stop(). Returns what it did.
  WorkerStats run();
  /// What it did so far.
  [[nodiscard]] WorkerStats stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace soundhash::db
