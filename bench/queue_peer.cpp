// The work queue's side of bench/run-queue: one measurement per run, printed
// as one JSON line in the same shape as bench/graphile/peer.cjs, so the two
// can be compared row by row.
//
//   soundhash_queue_peer --conninfo "host=... dbname=bench" --mode drain
//       --jobs 20000 --workers 4     (one command line)
//
// Modes (the job table is emptied first; only the named phase is timed):
//   insert-one      N create_job calls, one at a time (autocommit session)
//   insert-batch    one create_jobs_batch of N
//   create-if-absent
//                   W threads, each: N/W create_job_if_not_exists calls
//                   for keys that have no job yet (autocommit sessions)
//   drain           W threads, each: claim_next_job, then
//                   complete_job_and_claim_next per job (one commit per job)
//   drain-2commit   W threads, each: claim_next_job + complete_job per job
//                   (two commits per job, like graphile-worker's defaults)
//   drain-batched   W threads, each: claim_jobs(500) + complete_jobs
//   drain-async     as drain, in autocommit sessions whose commits do not
//                   wait for the WAL flush (TxOptions::synchronous_commit)
//   drain-limited   as drain, with the job type limited to W running
//                   (set_type_limit): a limit that never binds, so the run
//                   measures what a limited type's claim costs (its limit
//                   row locked, the running jobs counted)
//   drain-keyed     as drain, each job with one of 64 concurrency keys and
//                   the type limited to W running per key (set_key_limit):
//                   a limit that never binds, so the run measures what a
//                   key-limited type's claim costs
//   drain-beside-limited
//                   as drain, while 2 more threads work a second type,
//                   "heavy", limited to 1 running (set_type_limit): each
//                   claims a heavy job, holds it 2 ms, completes it, and
//                   tries again 1 ms after a claim the limit refused; only
//                   the drain of "bench" is timed and counted
//   drain-beside-unlimited
//                   the same with "heavy" unlimited: beside the row above,
//                   what a busy limited type costs the claims of others
//   drain-worker    as drain, through db::Worker: W threads, a no-op handler,
//                   until_idle (its timer heartbeats and rescues as usual)
//   drain-bare      not the library: the issue's "bare one-statement-per-job
//                   UPDATE ... FOR UPDATE SKIP LOCKED loop". W threads on
//                   bare libpq connections, each looping one prepared UPDATE
//                   that marks the next pending job running, autocommit.
//                   Jobs are claimed but never completed: less work than any
//                   queue that also records completions, so a ceiling on
//                   per-job drains with one durable commit per job
// Job payloads match the graphile peer's: type "bench", {"target": "t<i>"}.

#include <libpq-fe.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "soundhash/db.hpp"
#ifdef SOUNDHASH_BENCH_PROMETHEUS
#include "soundhash/db/prometheus.hpp"
#endif

namespace db = soundhash::db;

namespace {

struct Options {
  std::string conninfo;
  std::string mode;
  int jobs = 20000;
  int workers = 1;
  std::string observe = "none";  // or "prometheus" (bench/run-observe)
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--conninfo") {
      o.conninfo = v;
    } else if (k == "--mode") {
      o.mode = v;
    } else if (k == "--jobs") {
      o.jobs = std::stoi(v);
    } else if (k == "--workers") {
      o.workers = std::stoi(v);
    } else if (k == "--observe") {
      o.observe = v;
    } else {
      throw std::invalid_argument("unknown option " + k);
    }
  }
  if (o.mode.empty()) throw std::invalid_argument("--mode is required");
  return o;
}

std::vector<db::NewJob> make_jobs(int n) {
  std::vector<db::NewJob> jobs(n);
  for (int i = 0; i < n; ++i) {
    jobs[i].job_type = "bench";
    jobs[i].target_id = "t" + std::to_string(i);
    jobs[i].parameters = "{\"target\": \"t" + std::to_string(i) + "\"}";
  }
  return jobs;
}

const std::vector<std::string> kTypes = {"bench"};

// One worker thread's drain loop in the given style; returns jobs done.
long drain(db::Database& d, const std::string& mode, int w) {
  auto s = d.autocommit_session(
      db::TxOptions{.synchronous_commit = mode != "drain-async"});
  db::JobRepository q{s};
  const std::string me = "bench:" + std::to_string(w);
  long done = 0;
  if (mode == "drain" || mode == "drain-async" || mode == "drain-limited" ||
      mode == "drain-keyed" || mode.starts_with("drain-beside-")) {
    for (auto j = q.claim_next_job(kTypes, me); j;
         j = q.complete_job_and_claim_next(j->id, me, kTypes)) {
      ++done;
    }
  } else if (mode == "drain-2commit") {
    while (auto j = q.claim_next_job(kTypes, me)) {
      q.complete_job(j->id, me);
      ++done;
    }
  } else {
    std::vector<std::int64_t> ids;
    for (auto got = q.claim_jobs(kTypes, me, 500); !got.empty();
         got = q.claim_jobs(kTypes, me, 500)) {
      ids.clear();
      for (const auto& j : got) ids.push_back(j.id);
      if (!q.complete_jobs(ids, me).empty()) {
        throw std::runtime_error("lost jobs in a benchmark");
      }
      done += static_cast<long>(got.size());
    }
  }
  return done;
}

// drain-beside-*: works "heavy" jobs until `stop`, as described above.
void work_heavy(db::Database& d, int w, const std::atomic<bool>& stop) {
  auto s = d.autocommit_session();
  db::JobRepository q{s};
  const std::string me = "heavy:" + std::to_string(w);
  const std::vector<std::string> heavy = {"heavy"};
  while (!stop) {
    if (auto j = q.claim_next_job(heavy, me)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      q.complete_job(j->id, me);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

// drain-worker: the runtime around the same fused loop.
long drain_worker(db::Database& d, int workers) {
  db::Worker worker{d,
                    {.threads = workers,
                     .poll = std::chrono::milliseconds(10),
                     .until_idle = true}};
  worker.on("bench", [](db::JobContext&) {});
  const auto stats = worker.run();
  return static_cast<long>(stats.completed);
}

// drain-bare: one statement and one commit per job, claiming only.
long drain_bare(const std::string& conninfo, int w) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error(e);
  }
  PQclear(PQprepare(c, "take",
                    "UPDATE processing_jobs j SET status = 'running',"
                    " started_at = now(), heartbeat_at = now(), locked_by = $1,"
                    " attempts = j.attempts + 1 WHERE j.id = ("
                    " SELECT q.id FROM processing_jobs q"
                    " WHERE q.status = 'pending' AND q.job_type = 'bench'"
                    " AND q.run_at <= now() ORDER BY q.priority, q.run_at, q.id"
                    " LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING j.id",
                    0, nullptr));
  const std::string me = "bare:" + std::to_string(w);
  const char* params[] = {me.c_str()};
  long done = 0;
  for (;;) {
    PGresult* r = PQexecPrepared(c, "take", 1, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    const int rows = ok ? PQntuples(r) : 0;
    std::string e = ok ? "" : PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) {
      PQfinish(c);
      throw std::runtime_error(e);
    }
    if (rows == 0) break;
    ++done;
  }
  PQfinish(c);
  return done;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  db::Config cfg;
  cfg.conninfo = o.conninfo;
  // drain-worker: its timer; drain-beside-*: 2 heavy threads.
  cfg.pool_size = o.workers + 3;
#ifdef SOUNDHASH_BENCH_PROMETHEUS
  auto metrics = std::make_shared<db::PrometheusMetrics>();
  if (o.observe == "prometheus") cfg.observer = metrics;
#endif
  if (o.observe != "none" && !cfg.observer) {
    throw std::invalid_argument("--observe " + o.observe + ": not built");
  }
  db::Database d{cfg};
  db::migrate(d);
  {
    auto s = d.autocommit_session();
    s.execute("TRUNCATE processing_jobs, soundhash_job_creation_locks");
    s.execute("DELETE FROM job_type_limits");
    s.execute("DELETE FROM job_key_limits");
  }
  auto jobs = make_jobs(o.jobs);
  if (o.mode == "drain-keyed") {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      jobs[i].concurrency_key = "k" + std::to_string(i % 64);
    }
  }
  const bool draining = o.mode.starts_with("drain");
  if (draining) {
    auto s = d.autocommit_session();
    db::JobRepository{s}.create_jobs_batch(jobs);
    if (o.mode == "drain-limited") {
      db::JobRepository{s}.set_type_limit("bench", o.workers);
    }
    if (o.mode == "drain-keyed") {
      db::JobRepository{s}.set_key_limit("bench", o.workers);
    }
    if (o.mode.starts_with("drain-beside-")) {
      std::vector<db::NewJob> heavy(10000);
      for (std::size_t i = 0; i < heavy.size(); ++i) {
        heavy[i].job_type = "heavy";
        heavy[i].target_id = "h" + std::to_string(i);
      }
      db::JobRepository{s}.create_jobs_batch(heavy);
      if (o.mode == "drain-beside-limited") {
        db::JobRepository{s}.set_type_limit("heavy", 1);
      }
    }
  }
  std::atomic<bool> heavy_stop{false};
  std::vector<std::thread> heavy_threads;
  if (o.mode.starts_with("drain-beside-")) {
    for (int w = 0; w < 2; ++w) {
      heavy_threads.emplace_back([&, w] {
        try {
          work_heavy(d, w, heavy_stop);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "soundhash_queue_peer: heavy: %s\n", e.what());
          std::_Exit(1);
        }
      });
    }
  }

  // The process's CPU time (every thread's) over the run: what the client
  // side costs per job, which a busy machine does not inflate the way it
  // inflates wall time.
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  long done = 0;
  if (o.mode == "insert-one") {
    auto s = d.autocommit_session();
    db::JobRepository q{s};
    for (const auto& j : jobs) q.create_job(j);
    done = o.jobs;
  } else if (o.mode == "insert-batch") {
    auto s = d.autocommit_session();
    done =
        static_cast<long>(db::JobRepository{s}.create_jobs_batch(jobs).size());
  } else if (o.mode == "create-if-absent") {
    std::vector<std::thread> threads;
    std::vector<std::string> errors(o.workers);
    for (int w = 0; w < o.workers; ++w) {
      threads.emplace_back([&, w] {
        try {
          auto s = d.autocommit_session();
          db::JobRepository q{s};
          for (int i = w; i < o.jobs; i += o.workers) {
            if (!q.create_job_if_not_exists(jobs[i]).second) {
              throw std::runtime_error("a new key found a job");
            }
          }
        } catch (const std::exception& e) {
          errors[w] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.empty()) throw std::runtime_error(e);
    }
    done = o.jobs;
  } else if (o.mode == "drain-worker") {
    done = drain_worker(d, o.workers);
  } else if (draining) {
    std::vector<long> counts(o.workers);
    std::vector<std::string> errors(o.workers);
    std::vector<std::thread> threads;
    for (int w = 0; w < o.workers; ++w) {
      threads.emplace_back([&, w] {
        try {
          counts[w] = o.mode == "drain-bare" ? drain_bare(o.conninfo, w)
                                             : drain(d, o.mode, w);
        } catch (const std::exception& e) {
          errors[w] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.empty()) throw std::runtime_error(e);
    }
    for (long c : counts) done += c;
  } else {
    throw std::invalid_argument("unknown mode " + o.mode);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  heavy_stop = true;
  for (auto& t : heavy_threads) t.join();
  if (done != o.jobs) {
    throw std::runtime_error("processed " + std::to_string(done) + " of " +
                             std::to_string(o.jobs) + " jobs");
  }
  std::printf(
      "{\"peer\":\"soundhash-db\",\"mode\":\"%s\",\"workers\":%d,"
      "\"jobs\":%d,\"seconds\":%.4f,\"jobs_per_second\":%.1f,"
      "\"observe\":\"%s\",\"cpu_us_per_job\":%.1f}\n",
      o.mode.c_str(), o.workers, o.jobs, seconds, o.jobs / seconds,
      o.observe.c_str(), (cpu_seconds() - cpu0) * 1e6 / o.jobs);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "soundhash_queue_peer: %s\n", e.what());
  return 1;
}
