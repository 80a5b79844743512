// A queue worker as a service would run it: threads claim jobs, heartbeat
// while they work, complete or fail them; idle threads sleep on LISTEN
// instead of polling fast; one thread rescues jobs of workers that died.
// SIGINT/SIGTERM finish the job in hand, then exit 0.
//
//   worker [--types a,b] [--threads N] [--poll-seconds S] [--stale-seconds S]
//          [--until-idle] [--fail-every K]
//
// Reads DATABASE_URL. --until-idle exits once no job of the types is pending
// or running; --fail-every K makes the first attempt of every job whose id
// is a multiple of K throw, so fail_job and its backoff are exercised.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <soundhash/db.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace db = soundhash::db;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

struct Options {
  std::vector<std::string> types{"video_process"};
  int threads = 2;
  ms poll{5000};    // longest idle wait when no notification comes
  ms stale{30000};  // a running job without a heartbeat this long is rescued
  bool until_idle = false;
  int fail_every = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 == argc) throw std::invalid_argument(a + " needs a value");
      return std::string(argv[++i]);
    };
    auto seconds = [&] { return ms(std::llround(std::stod(value()) * 1000)); };
    if (a == "--types") {
      o.types.clear();
      std::istringstream list(value());
      for (std::string t; std::getline(list, t, ',');) {
        if (!t.empty()) o.types.push_back(t);
      }
    } else if (a == "--threads") {
      o.threads = std::stoi(value());
    } else if (a == "--poll-seconds") {
      o.poll = seconds();
    } else if (a == "--stale-seconds") {
      o.stale = seconds();
    } else if (a == "--until-idle") {
      o.until_idle = true;
    } else if (a == "--fail-every") {
      o.fail_every = std::stoi(value());
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.types.empty() || o.threads < 1 || o.threads > 64 ||
      o.poll.count() < 0 || o.stale.count() <= 0 || o.fail_every < 0) {
    throw std::invalid_argument("option value out of range");
  }
  return o;
}

// Shared with the signal handler, which may only touch lock-free atomics and
// call JobListener::interrupt() (async-signal-safe).
std::atomic<bool> stopping{false};
std::atomic<db::JobListener*> listeners[64] = {};  // one per worker thread
extern "C" void on_signal(int) {
  stopping = true;
  for (auto& l : listeners) {
    if (auto* p = l.load()) p->interrupt();  // wake a thread blocked in LISTEN
  }
}

std::atomic<int> completed{0}, failed{0}, running_threads{0};

// The "work": a few ms per step, with a heartbeat after each so the rescuer
// knows this worker is alive. Throwing here means the attempt failed.
void process(db::JobRepository& jobs, const db::ProcessingJob& job,
             const std::string& me, const Options& o) {
  const bool fail =
      o.fail_every > 0 && job.id % o.fail_every == 0 && job.attempts == 1;
  for (int step = 1; step <= 3; ++step) {
    std::this_thread::sleep_for(2ms);
    if (fail && step == 2) throw std::runtime_error("simulated failure");
    // Throws JobNotOwned if the job was rescued meanwhile: stop working.
    jobs.heartbeat(job.id, me, step * 30.0, "step " + std::to_string(step));
  }
}

// True when no job of the types is pending (due or not) or running anywhere.
bool queue_empty(db::JobRepository& jobs, const Options& o) {
  for (const auto& type : o.types) {
    auto counts = jobs.count_jobs_by_status(type);
    if (counts["pending"] + counts["running"] > 0) return false;
  }
  return true;
}

void work(db::Database& database, const Options& o, int index) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  const std::string me = std::string(host) + ":" + std::to_string(::getpid()) +
                         ":" + std::to_string(index);
  // Every call in an autocommit session is its own transaction, durable when
  // it returns (claim, heartbeat, complete: one round trip each).
  auto session = database.autocommit_session();
  db::JobRepository jobs{session};
  db::JobListener& listener = *listeners[index].load();

  std::optional<db::ProcessingJob> job;  // the job this thread owns, if any
  // A job in hand is finished even after a signal: it is already claimed.
  while (job || !stopping) {
    try {
      if (!job) job = jobs.claim_next_job(o.types, me);
      if (!job) {
        if (o.until_idle && queue_empty(jobs, o)) return;
        // Woken early by a NOTIFY (a new or re-queued job, or a delayed one
        // coming due) or a signal; the poll is the fallback.
        listener.wait_for_jobs(o.until_idle ? std::min(o.poll, ms(200))
                                            : o.poll);
        continue;
      }
      try {
        process(jobs, *job, me, o);
      } catch (const db::Error&) {
        throw;  // the database failed, not the job: handled below
      } catch (const std::exception& e) {
        // Back to pending after a short backoff (or failed for good once
        // max_retries is used up). Nothing else to do with it here.
        jobs.fail_job(job->id, me, e.what(), {.initial = 50ms, .max = 1s});
        ++failed;
        job.reset();
        continue;
      }
      const auto id = job->id;
      try {
        // Complete and claim the next job in one round trip; after a signal
        // only complete, so that no new job is taken.
        if (stopping) {
          jobs.complete_job(id, me);
          job.reset();
        } else {
          job = jobs.complete_job_and_claim_next(id, me, o.types);
        }
      } catch (const db::CommitInDoubt& e) {
        // The connection was lost during COMMIT: the completion may or may
        // not have happened (and a claim with it: such a job is rescued
        // after --stale-seconds). complete_job is a no-op for a job this
        // worker already completed, so asking again is safe.
        std::fprintf(stderr, "worker %s: %s; completing job %lld again\n",
                     me.c_str(), e.what(), static_cast<long long>(id));
        job.reset();
        jobs.complete_job(id, me);
      }
      ++completed;
    } catch (const db::JobNotOwned& e) {
      // Our heartbeat went stale and the rescuer gave the job to someone
      // else (or it was cancelled): drop it and move on.
      std::fprintf(stderr, "worker %s: %s\n", me.c_str(), e.what());
      job.reset();
    } catch (const db::Error& e) {
      if (!e.is_transient() && !dynamic_cast<const db::CommitInDoubt*>(&e)) {
        throw;  // not a passing outage: let main report it
      }
      // The server is away (the calls already retried): whatever we held is
      // rescued later. Pause, then try again.
      std::fprintf(stderr, "worker %s: %s\n", me.c_str(), e.what());
      job.reset();
      listener.wait_for_jobs(o.poll);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {  // also std::stoi's
    std::fprintf(stderr,
                 "worker: %s\nusage: worker [--types a,b] [--threads N] "
                 "[--poll-seconds S] [--stale-seconds S] [--until-idle] "
                 "[--fail-every K]\n",
                 e.what());
    return 2;
  }
  std::atomic<bool> fatal{false};
  try {
    auto& database = db::Database::global();
    db::migrate(database);

    // Listen before the first claim, so a job created in between is heard.
    std::vector<std::unique_ptr<db::JobListener>> owned;
    for (int i = 0; i < o.threads; ++i) {
      owned.push_back(std::make_unique<db::JobListener>(database, o.types));
      listeners[i] = owned.back().get();
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    std::vector<std::thread> threads;
    running_threads = o.threads;
    for (int i = 0; i < o.threads; ++i) {
      threads.emplace_back([&, i] {
        try {
          work(database, o, i);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker: thread %d: %s\n", i, e.what());
          fatal = true;
          stopping = true;
        }
        --running_threads;
      });
    }

    // The main thread is the rescuer: every few seconds, jobs whose worker
    // stopped heartbeating go back to pending (any process may do this; each
    // stale job is rescued exactly once).
    auto rescuer = database.autocommit_session();
    db::JobRepository jobs{rescuer};
    const ms every = std::clamp(o.stale / 2, ms(500), ms(5000));
    auto next = std::chrono::steady_clock::now() + every;
    while (running_threads > 0) {
      std::this_thread::sleep_for(100ms);
      if (stopping || std::chrono::steady_clock::now() < next) continue;
      next += every;
      try {
        for (const auto& j : jobs.rescue_stale_jobs(o.stale)) {
          std::printf("worker: rescued job %lld (%s %s), now %s\n",
                      static_cast<long long>(j.id), j.job_type.c_str(),
                      j.target_id.c_str(), j.status.c_str());
        }
      } catch (const db::Error& e) {  // the workers see to real trouble
        std::fprintf(stderr, "worker: rescue: %s\n", e.what());
      }
    }
    for (auto& t : threads) t.join();
    // Only this thread is left to run the handler: unhook the listeners
    // before `owned` destroys them.
    for (auto& l : listeners) l = nullptr;
  } catch (const db::Error& e) {
    std::fprintf(stderr, "worker: database error: %s\n", e.what());
    return 1;
  }
  std::printf("worker: %s; completed %d jobs, failed %d attempts\n",
              fatal      ? "stopped by an error"
              : stopping ? "stopped by signal"
                         : "idle",
              completed.load(), failed.load());
  return fatal ? 1 : 0;
}
