// The work queue under real concurrency and real deaths: worker processes
// draining one queue, a worker SIGKILLed mid-job, rescuers racing, and
// idempotent creation while jobs move through their states.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

// Runs `body(i)` in `n` forked processes at once; each exits with the code it
// returns (an exception is code 100). Returns the codes.
std::vector<int> in_processes(int n, const std::function<int(int)>& body) {
  sh_test::conninfo();  // the database exists before anyone forks
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 100;
      try {
        code = body(i);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.what());
      }
      _exit(code);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 200);
  }
  return codes;
}

db::Config worker_config() {
  auto cfg = sh_test::config(/*real_sleep=*/true);
  cfg.retry.initial_delay = 10ms;
  cfg.retry.max_retries = 8;
  return cfg;
}

class QueueFaults : public ::testing::Test {
 protected:
  void SetUp() override { db::migrate(database); }
  db::Database database{worker_config()};
  sh_test::Side side;
};

// 4 processes x 2 threads drain 3,000 jobs, each thread using one of the
// three styles (claim + complete, the fused call, batches of 25). Every job's
// "work" is a row in work_log written before completion: exactly 3,000 rows,
// one per job, proves each job ran once.
TEST_F(QueueFaults, WorkersInFourProcessesCompleteEveryJobExactlyOnce) {
  constexpr int kJobs = 3000;
  side.exec("CREATE TABLE work_log (job_id bigint NOT NULL, worker text)");
  {
    auto s = database.autocommit_session();
    std::vector<db::NewJob> batch(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      batch[i].job_type = "drain";
      batch[i].target_id = "t" + std::to_string(i);
      batch[i].priority = i % 3;
    }
    db::JobRepository{s}.create_jobs_batch(batch);
  }
  const auto codes = in_processes(4, [](int p) {
    db::Database d{worker_config()};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        try {
          auto s = d.autocommit_session();
          db::JobRepository q{s};
          const std::string me =
              "p" + std::to_string(p) + "t" + std::to_string(t);
          auto work = [&](std::int64_t id) {
            s.execute("INSERT INTO work_log VALUES ($1, $2)", id, me);
          };
          const int style = (p * 2 + t) % 3;
          if (style == 0) {
            while (auto j = q.claim_next_job({"drain"}, me)) {
              work(j->id);
              q.complete_job(j->id, me);
            }
          } else if (style == 1) {
            for (auto j = q.claim_next_job({"drain"}, me); j;
                 j = q.complete_job_and_claim_next(j->id, me, {"drain"})) {
              work(j->id);
            }
          } else {
            for (auto got = q.claim_jobs({"drain"}, me, 25); !got.empty();
                 got = q.claim_jobs({"drain"}, me, 25)) {
              std::vector<std::int64_t> ids;
              for (const auto& j : got) {
                work(j.id);
                ids.push_back(j.id);
              }
              if (!q.complete_jobs(ids, me).empty()) ++failures;
            }
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker: %s\n", e.what());
          ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    return failures.load() == 0 ? 0 : 1;
  });
  for (int c : codes) EXPECT_EQ(c, 0);
  EXPECT_EQ(side.count("SELECT count(*) FROM work_log"), kJobs);
  EXPECT_EQ(side.count("SELECT count(DISTINCT job_id) FROM work_log"), kJobs);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed' AND attempts = 1"),
            kJobs);
  EXPECT_GE(side.count("SELECT count(DISTINCT worker) FROM work_log"), 6)
      << "the work was not shared";
}

// A worker is SIGKILLed holding a job. Its heartbeat goes stale, a rescuer
// puts the job back, another worker completes it; the dead worker's id can
// no longer touch it.
TEST_F(QueueFaults, JobOfAKilledWorkerIsRescuedAndCompletedByAnother) {
  std::int64_t id = 0;
  {
    auto s = database.autocommit_session();
    id = db::JobRepository{s}.create_job("fp", "victim-job").id;
  }
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  sh_test::conninfo();
  const pid_t victim = fork();
  if (victim == 0) {
    close(ready[0]);
    try {
      db::Database d{worker_config()};
      auto s = d.autocommit_session();
      db::JobRepository q{s};
      auto j = q.claim_next_job({"fp"}, "victim");
      if (!j) _exit(3);
      q.heartbeat(j->id, "victim", 10.0, "working");
      char c = 1;
      if (write(ready[1], &c, 1) != 1) _exit(4);
      for (;;) pause();  // "working" until killed
    } catch (...) {
      _exit(5);
    }
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the victim never claimed its job";
  close(ready[0]);
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  int status = 0;
  waitpid(victim, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(side.value("SELECT status || ' ' || locked_by FROM "
                       "processing_jobs WHERE id = " +
                       std::to_string(id)),
            "running victim")
      << "the dead worker's claim was committed before it died";

  auto s = database.autocommit_session();
  db::JobRepository q{s};
  EXPECT_TRUE(q.rescue_stale_jobs(2s).empty()) << "rescued while fresh";
  std::this_thread::sleep_for(600ms);
  const auto rescued = q.rescue_stale_jobs(500ms, {0ms, 0ms, 1.0});
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].status, "pending");

  const auto again = q.claim_next_job({"fp"}, "survivor");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_THROW(q.complete_job(id, "victim"), db::JobNotOwned);
  q.complete_job(id, "survivor");
  EXPECT_EQ(side.value("SELECT status || ' ' || locked_by || ' ' || "
                       "retry_count FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            "completed survivor 1");
}

// 400 stale jobs, 4 processes rescuing at once: each job is rescued by
// exactly one of them (counts add up, and no job's retry_count went up
// twice).
TEST_F(QueueFaults, ConcurrentRescuersRescueEachJobOnce) {
  constexpr int kJobs = 400;
  {
    auto s = database.autocommit_session();
    db::JobRepository q{s};
    std::vector<db::NewJob> batch(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      batch[i].job_type = "stale";
      batch[i].target_id = "t" + std::to_string(i);
    }
    q.create_jobs_batch(batch);
    ASSERT_EQ(q.claim_jobs({"stale"}, "gone", kJobs).size(),
              static_cast<std::size_t>(kJobs));
  }
  side.exec(
      "UPDATE processing_jobs SET heartbeat_at = now() - interval "
      "'1 hour'");
  int results[2];
  ASSERT_EQ(pipe(results), 0);
  const auto codes = in_processes(4, [&](int) {
    close(results[0]);
    db::Database d{worker_config()};
    auto s = d.autocommit_session();
    int total = 0;
    for (int round = 0; round < 20; ++round) {
      total += static_cast<int>(
          db::JobRepository{s}.rescue_stale_jobs(10min).size());
    }
    return write(results[1], &total, sizeof total) == sizeof total ? 0 : 1;
  });
  close(results[1]);
  int sum = 0, n = 0, part = 0;
  while (read(results[0], &part, sizeof part) == sizeof part) {
    sum += part;
    ++n;
  }
  close(results[0]);
  for (int c : codes) EXPECT_EQ(c, 0);
  EXPECT_EQ(n, 4);
  EXPECT_EQ(sum, kJobs);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending' AND retry_count = 1"),
            kJobs);
}

// create_job_if_not_exists stays exact while workers claim, fail and
// complete the same keys and a purger deletes finished jobs and the creation
// locks of keys left with none; half the creators run at REPEATABLE READ,
// whose older snapshots a dropped lock row must not fool. A unique index over
// (type, target) among pending and running jobs is the tripwire: a second
// live job for a key would raise 23505 somewhere, and nobody may see one.
TEST_F(QueueFaults, IdempotentCreationHoldsWhileJobsMoveThroughTheQueue) {
  constexpr int kKeys = 40;
  side.exec(
      "CREATE UNIQUE INDEX one_live_job ON processing_jobs (job_type, "
      "target_id) WHERE status IN ('pending', 'running')");
  struct Report {
    int created = 0;
    std::int64_t purged = 0;
  };
  int results[2];
  ASSERT_EQ(pipe(results), 0);
  const auto codes = in_processes(4, [&](int p) {
    close(results[0]);
    db::Database d{worker_config()};
    const auto until = std::chrono::steady_clock::now() + 4s;
    Report report;
    if (p < 2) {  // creators, one at READ COMMITTED, one at REPEATABLE READ
      std::vector<std::thread> threads;
      std::atomic<int> made{0};
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
          const db::TxOptions options{
              .isolation = t == 0 ? db::Isolation::read_committed
                                  : db::Isolation::repeatable_read};
          try {
            for (int i = t; std::chrono::steady_clock::now() < until; ++i) {
              const auto key = "k" + std::to_string(i % kKeys);
              const bool c = d.transact(
                  [&](db::Session& s) {
                    return db::JobRepository{s}
                        .create_job_if_not_exists("live", key)
                        .second;
                  },
                  options);
              if (c) ++made;
            }
          } catch (const std::exception& e) {
            std::fprintf(stderr, "creator: %s\n", e.what());
            made = -1000000;
          }
        });
      }
      for (auto& t : threads) t.join();
      report.created = made.load();
      if (report.created < 0) return 1;
    } else {  // workers: complete two jobs, fail the third; one also purges
      auto s = d.autocommit_session();
      db::JobRepository q{s};
      const std::string me = "w" + std::to_string(p);
      int n = 0;
      while (std::chrono::steady_clock::now() < until) {
        if (p == 3 && n % 4 == 0) report.purged += q.purge_finished_jobs(1ms);
        auto j = q.claim_next_job({"live"}, me);
        if (!j) {
          std::this_thread::sleep_for(1ms);
          continue;
        }
        if (++n % 3 == 0) {
          q.fail_job(j->id, me, "flaky", {0ms, 0ms, 1.0});
        } else {
          q.complete_job(j->id, me);
        }
      }
    }
    return write(results[1], &report, sizeof report) == sizeof report ? 0 : 1;
  });
  close(results[1]);
  Report sum, part;
  while (read(results[0], &part, sizeof part) == sizeof part) {
    sum.created += part.created;
    sum.purged += part.purged;
  }
  close(results[0]);
  for (int c : codes) EXPECT_EQ(c, 0) << "a process failed (see stderr)";
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs") + sum.purged,
            sum.created)
      << "every job row was reported created by exactly one call";
  EXPECT_GT(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'completed'") +
                sum.purged,
            0)
      << "the workers did not get to move jobs";
  EXPECT_GT(sum.created, kKeys)
      << "keys were never re-created after completion";
  EXPECT_GT(sum.purged, 0) << "the purger never found a finished job";
  EXPECT_GT(side.count("SELECT n_tup_del FROM pg_stat_user_tables WHERE "
                       "relname = 'soundhash_job_creation_locks'"),
            0)
      << "no creation lock was ever dropped";
}

// The listener's fallback: with the server down it sleeps its timeout and
// says "nothing" (the worker keeps polling); once the server is back it
// reconnects and NOTIFY works again.
TEST(QueueServerFaults, ListenerPollsWhileTheServerIsDownAndRecovers) {
  sh_test::PrivateServer server;
  auto cfg = sh_test::config();
  cfg.conninfo = server.conninfo();
  db::Database d{cfg};
  db::migrate(d);
  db::JobListener listener{d, {"fp"}};
  ASSERT_TRUE(listener.connected());

  server.down();
  EXPECT_TRUE(listener.wait_for_jobs(5s)) << "a lost connection says: poll";
  EXPECT_FALSE(listener.connected());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(listener.wait_for_jobs(300ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms)
      << "the fallback must sleep its timeout, not spin";

  server.up();
  EXPECT_TRUE(listener.wait_for_jobs(5s)) << "reconnected: poll now";
  EXPECT_TRUE(listener.connected());
  auto s = d.autocommit_session();
  db::JobRepository{s}.create_job("fp", "after-restart");
  EXPECT_TRUE(listener.wait_for_jobs(30s));
}

}  // namespace
