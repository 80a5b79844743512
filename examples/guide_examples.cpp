// The code examples of the guide (docs/guide.md and docs/guide/*.md),
// compiled so that they stay true.
//
// Each region between "// [example: NAME]" and "// [end]" is quoted verbatim
// in the guide. Nothing here runs unless the program is started with the
// argument "run"; then it uses the database named by DATABASE_URL (libpq's
// PG* defaults when unset).

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <soundhash/db.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace db = soundhash::db;

namespace {

// Stands in for long work that must not hold a database session: downloading
// a video, decoding its audio, computing fingerprints.
void download_and_fingerprint(const db::Video&) {}
// The same for a queued job; it throws to report a failed attempt.
std::vector<db::NewFingerprint> fingerprint_job(const db::ProcessingJob& job) {
  if (job.target_id == "broken") throw std::runtime_error("cannot decode");
  return {};
}

// ---------------------------------------------------------------------------
// Scoped repositories

// [example: scoped]
db::Video add_video(std::string_view channel_id, std::string_view video_id) {
  auto repo = db::video_repository();  // owns a Session on Database::global()
  auto channel = repo->get_channel_by_id(channel_id);
  if (!channel) channel = repo->create_channel(channel_id, "New channel");
  return repo->create_video(video_id, channel->id, "Title");
}  // COMMIT here; ROLLBACK instead if an exception leaves the function
// [end]

// [example: short-scope]
std::optional<db::Video> find_video(std::string_view video_id) {
  auto repo = db::video_repository();
  return repo->get_video_by_id(video_id);
}  // committed and the connection is back in the pool

void process(std::string_view video_id) {
  if (auto video = find_video(video_id)) {
    download_and_fingerprint(*video);  // long work, no session held
  }
}
// [end]

// ---------------------------------------------------------------------------
// Shared sessions

// [example: shared]
void finish_video(std::int64_t video_row_id, std::int64_t job_id) {
  auto s = db::get_db_session();
  db::VideoRepository videos{s};
  db::JobRepository jobs{s};
  videos.mark_video_processed(video_row_id);
  jobs.update_job_status(job_id, db::job_status::completed, 100.0);
}  // one COMMIT for both: both changes or neither
// [end]

// ---------------------------------------------------------------------------
// Database::transact

// [example: transact]
// Returns the id of the video's processing job, creating it if needed.
std::int64_t enqueue_video(db::Database& database, std::string_view video_id) {
  return database.transact([&](db::Session& s) {
    db::VideoRepository videos{s};
    db::JobRepository jobs{s};
    if (!videos.get_video_by_id(video_id)) {
      throw std::invalid_argument("unknown video");  // rolls back, no retry
    }
    auto [job, created] =
        jobs.create_job_if_not_exists("video_process", video_id);
    return job.id;
  });  // committed here: a failed COMMIT throws from transact itself
}
// [end]

// [example: commit-in-doubt]
void enqueue_or_check(db::Database& database, std::string_view video_id) {
  try {
    enqueue_video(database, video_id);
  } catch (const db::CommitInDoubt&) {
    // The connection died during COMMIT: the job may or may not exist.
    // Look before doing anything that must not happen twice.
    auto repo = db::job_repository(database);
    const bool exists = repo->job_exists("video_process", video_id);
    spdlog::warn("commit in doubt for {}; job exists now: {}", video_id,
                 exists);
  }
}
// [end]

// ---------------------------------------------------------------------------
// Idempotent jobs

// [example: idempotent]
void request_processing(std::string_view video_id) {
  auto repo = db::job_repository();
  auto [job, created] = repo->create_job_if_not_exists(
      "video_process", video_id, R"({"priority": 1})");
  if (created) {
    spdlog::info("queued job {} for {}", job.id, video_id);
  } else {
    spdlog::info("job {} for {} is already {}", job.id, video_id, job.status);
  }
}
// [end]

// [example: write-nothing]
// Registers a channel once. When it is already there the INSERT writes
// nothing, and this scope costs one round trip with nothing left to commit.
bool register_channel(db::Database& database, std::string_view channel_id) {
  auto s = database.session();
  const auto r = s.ensure(
      "INSERT INTO channels (channel_id) VALUES ($1) "
      "ON CONFLICT (channel_id) DO NOTHING",
      channel_id);
  return r.affected_rows() == 1;
}
// [end]

// [example: pipeline]
// Looks up many videos in one round trip. The pipeline is one call: were a
// statement to fail, sync() would throw its error and the others would not
// count.
std::vector<std::optional<std::string>> titles_of(
    db::Session& s, const std::vector<std::string>& video_ids) {
  auto p = s.pipeline();
  std::vector<db::Pipeline::Handle> handles;
  for (const auto& id : video_ids) {
    handles.push_back(
        p.add_read("SELECT title FROM videos WHERE video_id = $1", id));
  }
  p.sync();  // sends them all, waits once
  std::vector<std::optional<std::string>> titles;
  for (const auto& h : handles) {
    titles.push_back(h.result().optional<std::string>());
  }
  return titles;
}
// [end]

// [example: calls-are-units]
// Registers what it can: a duplicate is skipped, the rest still commit.
int register_channels(db::Session& s, const std::vector<std::string>& ids) {
  db::VideoRepository videos{s};
  int created = 0;
  for (const auto& id : ids) {
    try {
      videos.create_channel(id, id);  // a call of its own: all or nothing
      ++created;
    } catch (const db::IntegrityError&) {
      // this channel's call is rolled back; the earlier ones are intact
    }
  }
  return created;
}
// [end]

// [example: custom-statuses]
// At most one fingerprinting job per video, ever: a completed one counts too.
bool request_fingerprinting_once(std::string_view video_id) {
  auto repo = db::job_repository();
  auto [job, created] =
      repo->create_job_if_not_exists("fingerprint", video_id, std::nullopt,
                                     {"pending", "running", "completed"});
  return created;
}
// [end]

// [example: racy]
// DON'T: two workers can both see "no job" and both insert one.
void racy_request_processing(std::string_view video_id) {
  auto repo = db::job_repository();
  if (!repo->job_exists("video_process", video_id)) {
    repo->create_job("video_process", video_id);
  }
}
// [end]

// [example: repeatable-read]
std::pair<db::ProcessingJob, bool> request_in_snapshot(
    db::Database& database, std::string_view video_id) {
  return database.transact(
      [&](db::Session& s) {
        db::JobRepository jobs{s};
        return jobs.create_job_if_not_exists("video_process", video_id);
      },
      db::TxOptions{.isolation = db::Isolation::repeatable_read});
}
// [end]

// ---------------------------------------------------------------------------
// Retry behaviour

// [example: policy]
db::Config service_config() {
  auto cfg = db::Config::from_env();
  cfg.retry.max_retries = 5;  // 6 attempts in all
  cfg.retry.initial_delay = std::chrono::milliseconds{200};
  cfg.retry.max_delay = std::chrono::seconds{3};
  cfg.retry.jitter = 0.25;  // each delay uniform in [0.75 d, 1.25 d]
  return cfg;
}
// [end]

// [example: db-retry]
// A whole unit of work of your own, with its own policy and log name.
std::int64_t reset_failed_jobs(db::Database& database) {
  db::RetryPolicy policy;  // 0.5 s, 1 s, 2 s
  policy.jitter = 0.1;
  return db::db_retry("reset_failed_jobs", policy, [&] {
    auto s = database.session();
    const auto r = s.execute(
        "UPDATE processing_jobs SET status = 'pending', "
        "retry_count = retry_count + 1 "
        "WHERE status = 'failed' AND retry_count < max_retries");
    const auto n = r.affected_rows();
    s.commit();  // inside fn: a transient COMMIT failure is retried too
    return n;
  });
}
// [end]

// [example: no-retries]
// A Database whose calls and transact units never retry.
db::Config no_retry_config() {
  auto cfg = db::Config::from_env();
  cfg.retry.max_retries = 0;
  return cfg;
}
// [end]

// ---------------------------------------------------------------------------
// Error handling

// [example: catch-integrity]
// Adds the videos that are new; returns how many it added.
int import_videos(std::int64_t channel_row_id,
                  const std::vector<std::string>& video_ids) {
  auto repo = db::video_repository();
  int added = 0;
  for (const auto& id : video_ids) {
    try {
      repo->create_video(id, channel_row_id);
      ++added;
    } catch (const db::IntegrityError& e) {
      // Only this call was undone; the videos added before it stay in the
      // unit. e.constraint() names the violated constraint.
      spdlog::debug("skipped {}: {}", id, e.constraint());
    }
  }
  return added;
}  // one COMMIT for every video that went in
// [end]

// [example: boundary]
// Maps database failures to HTTP-like status codes at a service boundary.
int handle_request(std::string_view video_id) {
  try {
    request_processing(video_id);
    return 200;
  } catch (const db::InvalidArgument& e) {  // nothing was sent
    spdlog::info("bad request: {}", e.what());
    return 400;
  } catch (const db::IntegrityError& e) {  // class 23
    spdlog::info("conflict on {}: {}", e.constraint(), e.detail());
    return 409;
  } catch (const db::TransientError&) {  // retrying did not help
    return 503;
  } catch (const db::PoolTimeout&) {  // no free connection in time
    return 503;
  } catch (const db::CommitInDoubt&) {  // outcome unknown
    return 500;
  } catch (const db::Error& e) {  // anything else from the library
    spdlog::error("database error {}: {}", e.sqlstate(), e.what());
    return 500;
  }
}
// [end]

// ---------------------------------------------------------------------------
// Logging

// [example: log-sink]
void log_database_to_file() {
  auto file =
      std::make_shared<spdlog::sinks::basic_file_sink_mt>("soundhash-db.log");
  // At startup, before threads. DEBUG lines are off by default.
  db::logger().sinks().push_back(file);
  db::logger().set_level(spdlog::level::debug);
}
// [end]

// [example: log-own]
void use_own_database_logger() {
  // Before the library's first log line and before any call to db::logger().
  auto sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("soundhash.db", sink);
  logger->set_level(spdlog::level::warn);
  spdlog::register_logger(logger);
}
// [end]

// ---------------------------------------------------------------------------
// Configuration

// [example: configure-global]
void configure_database() {
  auto cfg = db::Config::from_env();  // DATABASE_URL, SOUNDHASH_DB_*
  cfg.pool_size = 4;
  cfg.acquire_timeout = std::chrono::seconds{2};
  cfg.prepared_statements = false;      // behind PgBouncer transaction pooling
  db::Database::configure_global(cfg);  // before the first global() use
  db::migrate(db::Database::global());  // bundled schema; idempotent
}
// [end]

// ---------------------------------------------------------------------------
// Migrating from the deprecated form

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
// [example: deprecated]
// Before: the caller commits and closes by hand.
void old_create_channel(std::string_view channel_id) {
  auto repo = db::get_video_repository();
  repo.create_channel(channel_id, "Some channel");
  repo.session().commit();  // forget this and the channel is rolled back
  repo.session().close();
}
// [end]
#pragma GCC diagnostic pop

// [example: migrated]
// After: commits at scope exit, rolls back if an exception leaves.
void new_create_channel(std::string_view channel_id) {
  auto repo = db::video_repository();
  repo->create_channel(channel_id, "Some channel");
}
// [end]

// ---------------------------------------------------------------------------
// Do and don't

// [example: dont-long-work]
// DON'T: the connection (and any locks taken) is held during the download.
void dont_hold_session(std::string_view video_id) {
  auto repo = db::video_repository();
  if (auto video = repo->get_video_by_id(video_id)) {
    download_and_fingerprint(*video);
    repo->mark_video_processed(video->id);
  }
}
// [end]

// [example: dont-nest]
// DON'T: two sessions, two connections, two transactions. `jobs` commits
// first (it is destroyed first) and stays committed if `videos`' COMMIT then
// fails; and either session would block on a row lock the other holds.
void dont_nest(std::int64_t video_row_id, std::int64_t job_id) {
  auto videos = db::video_repository();
  auto jobs = db::job_repository();
  videos->mark_video_processed(video_row_id);
  jobs->update_job_status(job_id, db::job_status::completed);
}
// [end]

// [example: dont-swallow]
// DON'T: catching every db::Error also catches TransientError. One that
// follows earlier work has lost the whole unit: each later call throws
// TransientError again, and so does the scope's end ("cannot commit")
// instead of committing part of the work.
void dont_swallow(const std::vector<std::int64_t>& video_row_ids) {
  auto repo = db::video_repository();
  for (auto id : video_row_ids) {
    try {
      repo->mark_video_processed(id);
    } catch (const db::Error& e) {
      spdlog::warn("skipping video {}: {}", id, e.what());
    }
  }
}
// [end]

// ---------------------------------------------------------------------------
// Work queue

// [example: enqueue]
// Urgent work first; a re-check that may wait an hour.
void enqueue_work(std::string_view video_id) {
  auto s = db::Database::global().autocommit_session();
  db::JobRepository jobs{s};
  jobs.create_job({.job_type = "fingerprint",
                   .target_id = std::string(video_id),
                   .priority = -10});
  jobs.create_job({.job_type = "recheck",
                   .target_id = std::string(video_id),
                   .max_retries = 5,
                   .delay = std::chrono::hours(1)});
}
// [end]

// [example: worker-loop]
// One worker: claim, work with no session held, complete or fail. When the
// queue is empty it sleeps on LISTEN; another thread (or a signal handler)
// sets `stop` and calls listener.interrupt() to end it.
int work_until_stopped(db::Database& database, db::JobListener& listener,
                       const std::atomic<bool>& stop, const std::string& me) {
  const std::vector<std::string> types = {"fingerprint"};
  auto s = database.autocommit_session();  // each call commits on return
  db::JobRepository jobs{s};
  int done = 0;
  while (!stop) {
    auto job = jobs.claim_next_job(types, me);
    if (!job) {
      listener.wait_for_jobs(std::chrono::seconds(30));  // or poll then
      continue;
    }
    try {
      fingerprint_job(*job);
      jobs.complete_job(job->id, me);
      ++done;
    } catch (const db::JobNotOwned& e) {
      spdlog::warn("gave up job {}: {}", job->id, e.what());  // rescued
    } catch (const std::exception& e) {
      jobs.fail_job(job->id, me, e.what());  // back off, retry, or fail
    }
  }
  return done;
}
// [end]

// [example: worker-runtime]
// A service's worker: handlers per job type on four threads; claims,
// heartbeats, wake-ups, rescue and shutdown are the runtime's. A SIGTERM
// handler calls worker.request_stop().
db::WorkerStats run_fingerprint_worker(db::Database& database,
                                       bool until_idle) {
  db::Worker worker{database, {.threads = 4, .until_idle = until_idle}};
  worker.on("fingerprint", [](db::JobContext& job) {
    job.progress(10, "decoding");  // sent with the next heartbeat
    const auto fingerprints = fingerprint_job(job.job());  // throw: failed
    job.database().transact([&](db::Session& s) {
      db::VideoRepository{s}.create_fingerprints_batch(fingerprints);
      job.complete_in(s);  // results and completion commit together
    });
  });
  return worker.run();  // until request_stop(), or idle with until_idle
}
// [end]

// [example: schedules]
// Re-crawl every channel nightly at 02:30 UTC and refresh statistics every
// ten minutes. Set once (at deploy, or with `soundhash-db schedules set`);
// running Workers then create each period's job, once across the fleet.
void schedule_periodic_work(db::Database& database) {
  database.transact([](db::Session& s) {
    db::JobRepository jobs{s};
    jobs.upsert_schedule("nightly-crawl", "30 2 * * *",
                         {.job_type = "crawl", .target_id = "all-channels"});
    jobs.upsert_schedule(
        "stats", "@every 10m",
        {.job_type = "refresh_stats", .target_id = "global", .priority = 5});
  });
}
// [end]

// [example: fused-loop]
// A busy worker: completing a job and claiming the next is one statement,
// one round trip and one commit.
int drain(db::JobRepository& jobs, const std::string& me) {
  const std::vector<std::string> types = {"fingerprint"};
  int done = 0;
  auto job = jobs.claim_next_job(types, me);
  while (job) {
    try {
      fingerprint_job(*job);
    } catch (const std::exception& e) {
      jobs.fail_job(job->id, me, e.what());
      job = jobs.claim_next_job(types, me);
      continue;
    }
    job = jobs.complete_job_and_claim_next(job->id, me, types);
    ++done;
  }
  return done;
}
// [end]

// [example: complete-with-results]
// The job's results and its completion commit together or not at all: a
// job rescued meanwhile throws JobNotOwned and its results roll back too.
void finish_job(db::Database& database, const db::ProcessingJob& job,
                const std::string& me,
                const std::vector<db::NewFingerprint>& fingerprints) {
  database.transact([&](db::Session& s) {
    db::VideoRepository{s}.create_fingerprints_batch(fingerprints);
    db::JobRepository{s}.complete_job(job.id, me);
  });
}
// [end]

// [example: rescue]
// Every minute, from any number of processes: jobs whose worker has not
// heartbeated for 5 minutes go back to pending (or end failed).
void rescue_stale(db::Database& database) {
  auto s = database.autocommit_session();
  for (const auto& job :
       db::JobRepository{s}.rescue_stale_jobs(std::chrono::minutes(5))) {
    spdlog::warn("job {} is {} again", job.id, job.status);
  }
}
// [end]

// [example: release]
// A batch worker asked to stop hands back the jobs it has not started:
// they go back to the front of the queue for other workers.
std::size_t work_batch(db::JobRepository& jobs, const std::string& me,
                       const std::atomic<bool>& stop) {
  const auto batch = jobs.claim_jobs({"fingerprint"}, me, 100);
  std::vector<std::int64_t> done, left;
  for (const auto& job : batch) {
    if (stop) {
      left.push_back(job.id);
      continue;
    }
    try {
      fingerprint_job(job);
      done.push_back(job.id);
    } catch (const std::exception& e) {
      jobs.fail_job(job.id, me, e.what());
    }
  }
  if (!jobs.complete_jobs(done, me).empty()) spdlog::warn("some were rescued");
  if (!jobs.release_jobs(left, me).empty()) spdlog::warn("some were rescued");
  return done.size();
}
// [end]

// [example: purge]
// Nightly, from cron or a timer: keep a week of finished jobs. Each call is
// one short transaction of at most 10,000 deletions.
std::int64_t purge_history(db::Database& database) {
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  std::int64_t total = 0, n = 0;
  do {
    n = jobs.purge_finished_jobs(std::chrono::days(7), 10000);
    total += n;
  } while (n == 10000);
  return total;
}
// [end]

// [example: timeout]
// A decode that hangs is failed after ten minutes, even though its worker
// goes on heartbeating; it is retried like any failed attempt.
db::ProcessingJob enqueue_decode(db::JobRepository& jobs,
                                 std::string_view video_id) {
  return jobs.create_job({.job_type = "decode",
                          .target_id = std::string(video_id),
                          .timeout = std::chrono::minutes(10)});
}
// [end]

// [example: cancel]
// "Stop that decode": a pending job never starts, a running one's handler
// sees JobContext::cancelled() at its next heartbeat. A wrong id
// (JobNotFound) is a bug and propagates.
bool stop_job(db::Database& database, std::int64_t id) {
  auto s = database.autocommit_session();
  try {
    (void)db::JobRepository{s}.cancel_job(id);
    return true;
  } catch (const db::JobAlreadyFinished& e) {
    spdlog::info("job {} had already ended {}", id, e.status());
    return false;
  }
}
// [end]

// [example: job-history]
// Why did this video fail three times? The last 20 failed attempts.
void explain_failures(db::JobRepository& jobs, std::int64_t id) {
  for (const auto& e : jobs.get_job_errors(id)) {
    spdlog::info("attempt {} on {}: {}", e.attempt, e.worker.value_or("?"),
                 e.message);
  }
}
// [end]

void run_control_examples(db::Database& database) {
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  const auto decode = enqueue_decode(jobs, "vid_guide_6");
  if (!stop_job(database, decode.id) || stop_job(database, decode.id))
    throw std::runtime_error("cancel_job");
  const auto job = jobs.create_job("history", "vid_guide_7");
  (void)jobs.claim_next_job({"history"}, "guide:6");
  (void)jobs.fail_job(job.id, "guide:6", "decoder crashed");
  explain_failures(jobs, job.id);
  if (jobs.get_job_errors(job.id).size() != 1)
    throw std::runtime_error("get_job_errors");
  std::printf("cancelled and explained\n");
}

void run_queue_examples(db::Database& database) {
  enqueue_work("vid_guide");
  enqueue_work("broken");
  db::JobListener listener{database, {"fingerprint"}};
  std::atomic<bool> stop{false};
  int done = 0;
  std::thread worker(
      [&] { done = work_until_stopped(database, listener, stop, "guide:1"); });
  auto s = database.autocommit_session();
  db::JobRepository jobs{s};
  // Until every job has been tried once (the broken one now waits out its
  // backoff).
  while (s.read("SELECT count(*) FROM processing_jobs WHERE job_type = "
                "'fingerprint' AND (status = 'running' OR (status = "
                "'pending' AND retry_count = 0))")
             .one()[0]
             .as<std::int64_t>() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  listener.interrupt();
  worker.join();
  std::printf("work queue: %d done\n", done);
  enqueue_work("vid_guide_2");
  std::printf("drained: %d\n", drain(jobs, "guide:2"));
  const auto job = jobs.create_job("fingerprint", "vid_guide_3");
  const auto claimed = jobs.claim_next_job({"fingerprint"}, "guide:3");
  if (!claimed || claimed->id != job.id)
    throw std::runtime_error("claim order");
  finish_job(database, *claimed, "guide:3", {});
  rescue_stale(database);
  enqueue_work("vid_guide_4");
  const std::atomic<bool> stopping{true};
  if (work_batch(jobs, "guide:4", stopping) != 0)
    throw std::runtime_error("a stopping batch worker ran a job");
  const auto released = jobs.claim_next_job({"fingerprint"}, "guide:5");
  if (!released || released->target_id != "vid_guide_4")
    throw std::runtime_error("the released job was not first in line");
  jobs.complete_job(released->id, "guide:5");
  std::printf("purged: %lld\n",
              static_cast<long long>(purge_history(database)));
  // The broken job would be retried for minutes: end it, then run a Worker
  // until the queue is idle.
  s.execute(
      "UPDATE processing_jobs SET status = 'failed' WHERE target_id = "
      "'broken'");
  jobs.create_job("fingerprint", "vid_guide_5");
  const auto stats = run_fingerprint_worker(database, true);
  if (stats.completed != 1) throw std::runtime_error("the Worker ran no job");
  std::printf("worker: %lld done\n", static_cast<long long>(stats.completed));
  schedule_periodic_work(database);
  schedule_periodic_work(database);  // replacing keeps each one's rhythm
  if (jobs.list_schedules().size() != 2)
    throw std::runtime_error("schedules not stored");
  run_control_examples(database);
}

// [example: identify-clip]
// The video a clip comes from, if any: one statement, one round trip.
std::optional<db::MatchCandidate> identify(
    db::Database& database, const std::vector<db::QueryHash>& clip) {
  const auto candidates = database.transact([&](db::Session& s) {
    return db::VideoRepository{s}.find_matches(clip, 3);
  });
  // One or two aligned hashes happen by chance: ask for a few more.
  if (candidates.empty() || candidates[0].matched_hashes < 5) {
    return std::nullopt;
  }
  return candidates[0];
}
// [end]

// [example: replica-config]
// Reads on standbys: the primary as before, plus the standbys' conninfo.
db::Config replica_config() {
  auto cfg = db::Config::from_env();  // or SOUNDHASH_DB_REPLICA_URL
  cfg.replica_conninfo = "host=replica1,replica2 dbname=soundhash user=app";
  cfg.replica_pool_size = 8;                      // per standby
  cfg.replica_max_lag = std::chrono::seconds(5);  // for every read session
  return cfg;
}
// [end]

// [example: read-session]
// Matching only reads, and a standby a moment behind answers as well.
std::vector<db::MatchCandidate> identify_on_standby(
    db::Database& database, const std::vector<db::QueryHash>& clip) {
  auto s = database.read_session();
  return db::VideoRepository{s}.find_matches(clip, 3);
}
// [end]

// [example: read-your-writes]
// A page shown right after an edit must show the edit: the read runs on a
// standby that has replayed it, else on the primary.
std::optional<db::Video> rename_then_show(db::Database& database,
                                          std::string_view video_id) {
  database.transact([&](db::Session& s) {
    s.execute("UPDATE videos SET title = $2 WHERE video_id = $1", video_id,
              "Renamed");
  });
  db::ReadOptions mine;
  mine.after = database.commit_token();  // one round trip, on the primary
  mine.after_wait = std::chrono::milliseconds(200);
  return database.read_transact(
      [&](db::Session& s) {
        return db::VideoRepository{s}.get_video_by_id(video_id);
      },
      mine);
}
// [end]

// Six fingerprints of `video` from 10 s on, then the clip of them from 0 s.
void run_match_example(db::Database& database, std::int64_t video) {
  std::vector<db::NewFingerprint> fps;
  std::vector<db::QueryHash> clip;
  for (int i = 0; i < 6; ++i) {
    const std::string hash = "guide_hash_" + std::to_string(i);
    fps.push_back({.video_id = video,
                   .start_time = 10.0 + i,
                   .end_time = 11.0 + i,
                   .fingerprint_hash = hash,
                   .fingerprint_data = db::Bytes{std::byte{1}}});
    clip.push_back({hash, static_cast<double>(i)});
  }
  database.transact([&](db::Session& s) {
    db::VideoRepository{s}.create_fingerprints_batch(fps);
  });
  const auto found = identify(database, clip);
  const auto on_standby = identify_on_standby(database, clip);
  if (on_standby.empty() || on_standby[0].video_id != video) {
    throw std::runtime_error("identify_on_standby: the clip was not found");
  }
  if (!found || found->video_id != video || found->offset != 10.0) {
    throw std::runtime_error("identify: the clip was not found at 10 s");
  }
  std::printf("identify: video %lld at %.1f s\n",
              static_cast<long long>(found->video_id), found->offset);
}

int run_all() {
  use_own_database_logger();
  log_database_to_file();
  configure_database();
  auto& database = db::Database::global();

  const auto video = add_video("UC_guide", "vid_guide");
  process("vid_guide");
  request_processing("vid_guide");
  const bool first = register_channel(database, "UC_guide_registered");
  const bool again = register_channel(database, "UC_guide_registered");
  std::printf("register_channel: %d then %d\n", first, again);
  {
    auto s = database.session();
    const int n = register_channels(
        s, {"UC_units_1", "UC_guide_registered", "UC_units_2"});
    std::printf("register_channels: %d of 3\n", n);
  }
  {
    auto s = database.session();
    const auto titles = titles_of(s, {"vid_guide", "no_such_video"});
    std::printf("titles_of: %zu titles, second %s\n", titles.size(),
                titles[1] ? "found" : "missing");
  }
  request_fingerprinting_once("vid_guide");
  racy_request_processing("vid_guide");
  const auto job_id = enqueue_video(database, "vid_guide");
  enqueue_or_check(database, "vid_guide");
  request_in_snapshot(database, "vid_guide");
  finish_video(video.id, job_id);
  reset_failed_jobs(database);
  dont_swallow({video.id});
  import_videos(video.channel_id, {"vid_guide", "vid_guide_2"});
  std::printf("handle_request: %d\n", handle_request("vid_guide"));
  old_create_channel("UC_guide_old");
  new_create_channel("UC_guide_new");
  dont_hold_session("vid_guide");
  dont_nest(video.id, job_id);
  run_queue_examples(database);
  run_match_example(database, video.id);
  const auto renamed = rename_then_show(database, "vid_guide");
  if (!renamed || renamed->title != "Renamed") {
    throw std::runtime_error("rename_then_show: the edit was not seen");
  }
  if (replica_config().replica_pool_size != 8) {
    throw std::runtime_error("replica_config");
  }

  db::Database other{service_config()};
  db::Database unretried{no_retry_config()};
  std::printf("pool sizes: %zu, %zu\n", other.pool_stats().max_size,
              unretried.pool_stats().max_size);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "run") {
    // Compile-checked only. A Database connects lazily, so this needs no
    // server.
    db::Database database{db::Config{}};
    std::printf(
        "guide_examples: pass \"run\" to run against DATABASE_URL "
        "(pool size %zu)\n",
        database.config().pool_size);
    return 0;
  }
  try {
    return run_all();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "guide_examples: %s\n", e.what());
    return 1;
  }
}
