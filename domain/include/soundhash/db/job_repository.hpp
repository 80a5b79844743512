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

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "soundhash/db/job_errors.hpp"
#include "soundhash/db/models.hpp"
#include "soundhash/db/schedule.hpp"
#include "soundhash/db/session.hpp"
#include "soundhash/db/type_limits.hpp"

namespace soundhash::db {

/// How long a failed job waits before its next attempt: `initial` times
/// `multiplier` to the power of the retries so far, at most `max`; with
/// `jitter`, a random part of that wait is taken off, so that jobs that
/// failed together (a downstream outage) do not come back together.
struct JobBackoff {
  /// The wait after the first failure.
  std::chrono::milliseconds initial{std::chrono::seconds{10}};
  /// The longest wait.
  std::chrono::milliseconds max{std::chrono::hours{1}};
  /// Growth per retry (>= 1).
  double multiplier = 2.0;
  /// How much of each wait is random, in [0, 1]: a wait d becomes uniform
  /// in [d * (1 - jitter), d]. 1 is "full jitter" (uniform in [0, d]); 0
  /// keeps waits exact. Worker uses 1 by default (WorkerOptions::backoff).
  double jitter = 0.0;
  /// The wait after the failure that follows `retries` earlier retries,
  /// without jitter: the longest the jittered wait can be.
  [[nodiscard]] std::chrono::milliseconds delay(int retries) const;
  /// The jittered wait: delay(retries) less `unit_random` (in [0, 1)) times
  /// its random part. fail_job draws `unit_random` afresh for every call.
  [[nodiscard]] std::chrono::milliseconds delay(int retries,
                                                double unit_random) const;
};

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
  /// Inserts a pending job with a priority, retry budget and delay.
  ProcessingJob create_job(const NewJob& job);
  /// Inserts `jobs` in one statement and one round trip; returns their ids
  /// in the order of `jobs`. Listeners get one wake-up per job type.
  std::vector<std::int64_t> create_jobs_batch(std::span<const NewJob> jobs);

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

  /// create_job_if_not_exists for a job with a priority, retry budget and
  /// delay (they apply only to a job this call creates).
  std::pair<ProcessingJob, bool> create_job_if_not_exists(
      const NewJob& job, const std::vector<std::string>& check_statuses =
                             default_check_statuses());

  /// Up to `limit` (> 0) pending jobs in claim order (priority, run_at,
  /// id), of `job_type` if given; includes jobs whose run_at is still ahead.
  std::vector<ProcessingJob> get_pending_jobs(
      std::optional<std::string_view> job_type = std::nullopt, int limit = 10);
  // ---- The work queue -------------------------------------------------
  // A worker claims jobs, heartbeats while it works, and completes or fails
  // them. Every call checks that `worker_id` still owns the job and throws
  // JobNotOwned otherwise (changing nothing): a job whose heartbeat went
  // stale may have been rescued and handed to another worker. `worker_id`
  // must be unique per worker (e.g. "host:pid:thread"). In an autocommit
  // session (Database::autocommit_session) each call is durable when it
  // returns and costs one round trip; see docs/guide/queue.md.

  /// Claims the next runnable job (status pending, run_at <= now()) of one of
  /// `job_types`, in order of priority (lower first), run_at, id: marks it
  /// running, locked_by `worker_id`, started_at and heartbeat_at now, and
  /// counts the attempt. nullopt if none is runnable. Concurrent workers never
  /// get the same job and never wait for each other (FOR UPDATE SKIP LOCKED).
  /// One statement; it reads only the front of each wanted type's pending
  /// jobs, however many jobs of other types are ahead, and locks only the
  /// jobs it claims. With several types a server function merges their
  /// fronts (about twice the server time of a one-type claim). A repeated
  /// type counts once.
  std::optional<ProcessingJob> claim_next_job(
      const std::vector<std::string>& job_types, std::string_view worker_id);
  /// Like claim_next_job for up to `n` (> 0) jobs, in claim order.
  std::vector<ProcessingJob> claim_jobs(
      const std::vector<std::string>& job_types, std::string_view worker_id,
      int n);
  /// Records that `worker_id` is still working on `job_id` (and its progress
  /// and step, when given), so rescue_stale_jobs leaves it alone. If the
  /// attempt ran past the job's timeout (NewJob::timeout), it ends instead as
  /// fail_job would end it, with `backoff`, and this throws JobTimedOut.
  void heartbeat(std::int64_t job_id, std::string_view worker_id,
                 std::optional<double> progress = std::nullopt,
                 std::optional<std::string> current_step = std::nullopt,
                 const JobBackoff& backoff = {});
  /// Marks the job completed (progress 100, completed_at now). Calling it
  /// again for a job this worker already completed is a no-op, so it is safe
  /// to repeat after a CommitInDoubt.
  void complete_job(std::int64_t job_id, std::string_view worker_id);
  /// Completes `job_ids` in one statement; returns the ids this worker no
  /// longer owned (those are left alone; empty when all were completed).
  /// A QueueObserver hears `completed` for each job this call completed.
  [[nodiscard]] std::vector<std::int64_t> complete_jobs(
      const std::vector<std::int64_t>& job_ids, std::string_view worker_id);
  /// complete_job(job_id) and claim_next_job(job_types) in one statement and
  /// one commit: a worker's loop costs one round trip per job. Claims
  /// nothing if the completion throws JobNotOwned.
  std::optional<ProcessingJob> complete_job_and_claim_next(
      std::int64_t job_id, std::string_view worker_id,
      const std::vector<std::string>& job_types);
  /// Records a failed attempt with `error`. While retries remain
  /// (retry_count < max_retries) the job goes back to pending with retry_count
  /// + 1 and run_at = now() + backoff.delay(retry_count); otherwise it ends
  /// failed. The error joins the job's history (get_job_errors). A job
  /// cancelled meanwhile (cancel_job) stays cancelled: this throws
  /// JobNotOwned. Returns the job as it is now.
  ProcessingJob fail_job(std::int64_t job_id, std::string_view worker_id,
                         std::string_view error,
                         const JobBackoff& backoff = {});
  /// Running jobs whose last heartbeat is older than `older_than` (their
  /// worker died or hung) count a failed attempt, as fail_job does: back to
  /// pending after `backoff` (jitter drawn per job) while retries remain,
  /// else failed, with the rescue in their error history. So a job that
  /// kills its worker does not come straight back. The worker that lost them
  /// gets JobNotOwned from its next call. Safe to run from many processes at
  /// once: each stale job is rescued by exactly one caller. Returns the
  /// rescued jobs.
  std::vector<ProcessingJob> rescue_stale_jobs(
      std::chrono::milliseconds older_than, const JobBackoff& backoff = {});
  /// Hands claimed jobs back without running them (a worker shutting down
  /// with part of a claim_jobs batch left): each goes back to pending in its
  /// old place in the queue (run_at unchanged), unowned, with the claim's
  /// attempt taken back, and listeners are woken. Returns the ids this
  /// worker did not own (left alone; empty when all were released).
  ///
  ///   auto batch = repo.claim_jobs({"video_process"}, me, 100);
  ///   std::vector<std::int64_t> unstarted;  // filled once asked to stop
  ///   ...
  ///   repo.release_jobs(unstarted, me);
  [[nodiscard]] std::vector<std::int64_t> release_jobs(
      const std::vector<std::int64_t>& job_ids, std::string_view worker_id);
  /// Deletes up to `max_jobs` (> 0) finished jobs (completed, failed or
  /// cancelled) that finished more than `older_than` (> 0) ago, oldest first;
  /// returns how many it deleted. Call again while it returns `max_jobs` to
  /// purge more in bounded transactions. Keeping the table to live jobs and
  /// recent history keeps autovacuum cheap and frequent, and the queue's
  /// claims depend on it (docs/guide/queue.md, "Keeping the queue fast"). A
  /// purged job no longer counts for create_job_if_not_exists, and a key left
  /// with no job loses its creation-lock row (unless a creator holds it). Safe
  /// to run from several processes at once, and beside creators at any
  /// isolation level. One server call (schema version 5, Database::migrate).
  std::int64_t purge_finished_jobs(std::chrono::milliseconds older_than,
                                   int max_jobs = 10000);
  /// How long the longest-waiting runnable job (pending, run_at passed) of
  /// `job_types` (any type when empty) has been runnable: the queue's lag,
  /// for alerts ("no worker took a job for 5 minutes"). nullopt when no job
  /// is runnable. Reads every runnable job's index entry: a monitoring call,
  /// not one for a worker's loop.
  std::optional<std::chrono::milliseconds> oldest_runnable_wait(
      const std::vector<std::string>& job_types = {});

  // ---- Periodic jobs ---------------------------------------------------
  // A schedule creates a job each period (docs/guide/queue.md, "Periodic
  // jobs"). Times are the server's clock; cron fields are read in UTC.

  /// Creates or replaces the schedule `name`: `job` is created each time
  /// `expression` (see Schedule) fires, with run_at the period's time plus
  /// the job's delay.
  /// Replacing with the same expression keeps the next firing time; a new
  /// expression starts from now. Throws InvalidSchedule for a malformed
  /// expression and InvalidArgument for a bad name or job, changing
  /// nothing. The job's timeout (NewJob::timeout) is stored too (schema
  /// version 14) and given to every job the schedule creates.
  /// Two statements (the server's clock, then the upsert).
  JobSchedule upsert_schedule(std::string_view name,
                              std::string_view expression, const NewJob& job);
  /// Deletes the schedule `name`; false if there was none. Jobs it created
  /// stay.
  bool delete_schedule(std::string_view name);
  /// Every schedule, by name.
  std::vector<JobSchedule> list_schedules();
  /// Creates the job of every schedule that is due (next_run_at <= now), up
  /// to `max_schedules` (> 0) of them, and moves each one's next_run_at to
  /// its first firing time after now: periods missed while nothing called
  /// this run once, not once each (the job's run_at is the first missed
  /// period's time). Exactly once per period however many
  /// threads and processes call it at once (a compare-and-set on
  /// next_run_at; the losers create nothing and never wait long). Returns
  /// the jobs created. Two statements; the Worker calls it on a timer
  /// (WorkerOptions::schedules_every).
  std::vector<ProcessingJob> enqueue_due_schedules(int max_schedules = 100);

  // ---- Concurrency limits ----------------------------------------------
  // docs/guide/queue.md, "Concurrency limits".

  /// Never more than `max_running` (>= 0; 0 pauses the type) jobs of
  /// `job_type` running at once, across every worker and process that
  /// claims through this library; replaces the type's limit if it has one.
  /// Jobs already running beyond a lowered limit finish; no new one starts
  /// until the count is below it. Throws InvalidArgument for a negative
  /// limit or a bad type name, and UnknownJobType for a type nothing knows
  /// (no job, schedule or limit has it) unless `allow_unknown_type`; nothing
  /// is changed then.
  void set_type_limit(std::string_view job_type, std::int32_t max_running,
                      bool allow_unknown_type = false);
  /// Removes `job_type`'s limit; false if it had none.
  bool clear_type_limit(std::string_view job_type);
  /// Every limit, by type, with how many of the type run now.
  std::vector<TypeLimit> list_type_limits();
  /// Never more than `max_running_per_key` (>= 1) jobs of `job_type` with
  /// one NewJob::concurrency_key running at once (say 2 downloads per
  /// channel), across every worker and process; jobs without a key are not
  /// counted or held back. A claim passes over the jobs of a key at its
  /// limit and takes the next runnable ones, so a busy key never holds back
  /// the others. Combines with set_type_limit. Replaces the type's per-key
  /// limit if it has one. Throws as set_type_limit does (InvalidArgument,
  /// UnknownJobType), changing nothing. Schema version 15.
  void set_key_limit(std::string_view job_type,
                     std::int32_t max_running_per_key,
                     bool allow_unknown_type = false);
  /// Removes `job_type`'s per-key limit; false if it had none.
  bool clear_key_limit(std::string_view job_type);
  /// Every per-key limit, by type, with how many run now.
  std::vector<KeyLimit> list_key_limits();

  // ---- Cancellation and error history (docs/guide/queue.md) ----------

  /// Cancels job `id`. A pending job ends `cancelled` at once. A running job
  /// ends `cancelled` too (completed_at now, locked_by kept): no worker can
  /// complete, fail or retry it any more, and its worker learns of it at its
  /// next heartbeat (JobNotOwned; a Worker handler's JobContext::cancelled()
  /// turns true), so its handler may still run until then. Returns the job as
  /// it is now. Throws JobNotFound if no job has `id`, JobAlreadyFinished if
  /// it was completed, failed or cancelled already; either way nothing
  /// changes. One statement.
  ProcessingJob cancel_job(std::int64_t id);
  /// The job with `id`; nullopt if there is none.
  std::optional<ProcessingJob> get_job(std::int64_t id);
  /// The failed attempts of job `id` that its history keeps (the last 20),
  /// oldest first: from fail_job, timeouts and rescue_stale_jobs. Throws
  /// JobNotFound if no job has `id`.
  std::vector<JobAttemptError> get_job_errors(std::int64_t id);

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
