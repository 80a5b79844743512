// create_job_if_not_exists under real concurrency: processes and threads
// hammering the same (type, target) pairs create exactly one job per pair,
// and exactly one call per pair is told created == true.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <random>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

constexpr int kPairs = 200;

std::string target(int i) { return "video-" + std::to_string(i); }

// Per-thread work: every pair once, in a thread-specific order.
void hammer(db::Database& database, int seed, std::atomic<int>* created,
            const std::vector<std::string>& statuses,
            std::optional<db::Isolation> isolation) {
  std::vector<int> order(kPairs);
  for (int i = 0; i < kPairs; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  for (int i : order) {
    bool was_created = false;
    if (isolation) {
      // transact re-runs the unit after a SerializationError.
      was_created = database.transact(
          [&](db::Session& s) {
            db::JobRepository jobs{s};
            return jobs
                .create_job_if_not_exists("video_process", target(i),
                                          std::nullopt, statuses)
                .second;
          },
          {.isolation = *isolation});
    } else {
      auto repo = db::job_repository(database);
      was_created = repo->create_job_if_not_exists("video_process", target(i),
                                                   std::nullopt, statuses)
                        .second;
    }
    if (was_created) ++created[i];
  }
}

db::Config patient_config() {
  auto c = sh_test::config(true);
  c.pool_size = 4;
  c.acquire_timeout = 60s;
  c.retry.max_retries = 200;
  c.retry.initial_delay = 1ms;
  c.retry.max_delay = 20ms;
  c.retry.jitter = 0.5;
  return c;
}

// Runs `procs` processes of `threads` threads each; returns the number of
// created == true per pair, summed over everyone.
std::vector<int> run_processes(int procs, int threads,
                               const std::vector<std::string>& statuses,
                               bool mix_isolation) {
  const std::string conninfo = sh_test::conninfo();
  int go[2], results[2];
  EXPECT_EQ(pipe(go), 0);
  EXPECT_EQ(pipe(results), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < procs; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      close(results[0]);
      char c;
      if (read(go[0], &c, 1) != 0) _exit(101);
      try {
        auto cfg = patient_config();
        cfg.conninfo = conninfo;
        db::Database database{cfg};
        std::atomic<int> created[kPairs] = {};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
          std::optional<db::Isolation> iso;
          if (mix_isolation && t % 2 == 1) iso = db::Isolation::repeatable_read;
          pool.emplace_back(hammer, std::ref(database), p * 100 + t, created,
                            std::cref(statuses), iso);
        }
        for (auto& t : pool) t.join();
        unsigned char record[kPairs];
        for (int i = 0; i < kPairs; ++i) {
          record[i] = static_cast<unsigned char>(created[i].load());
        }
        // One write of < PIPE_BUF bytes is atomic.
        if (write(results[1], record, sizeof record) != sizeof record)
          _exit(102);
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        _exit(100);
      }
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(results[1]);
  close(go[1]);  // start everyone at once
  std::vector<int> created(kPairs, 0);
  for (int p = 0; p < procs; ++p) {
    unsigned char record[kPairs];
    std::size_t got = 0;
    while (got < sizeof record) {
      const auto n = read(results[0], record + got, sizeof record - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != sizeof record) {
      ADD_FAILURE() << "a child reported nothing";
      break;
    }
    for (int i = 0; i < kPairs; ++i) created[i] += record[i];
  }
  close(results[0]);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child exit status " << status;
  }
  return created;
}

class JobRace : public ::testing::Test {
 protected:
  void SetUp() override {
    db::Database d(sh_test::config());
    db::migrate(d);
  }
  sh_test::Side side;
};

}  // namespace

TEST_F(JobRace, EightProcessesTimesFourThreadsOnTwoHundredPairs) {
  const auto created = run_processes(8, 4, {"pending", "running"}, false);
  for (int i = 0; i < kPairs; ++i) {
    EXPECT_EQ(created[i], 1) << "pair " << i;
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), kPairs);
  EXPECT_EQ(side.count("SELECT count(*) FROM (SELECT target_id FROM "
                       "processing_jobs WHERE status IN ('pending', 'running') "
                       "GROUP BY job_type, target_id HAVING count(*) > 1) d"),
            0);
}

TEST_F(JobRace, ReadCommittedAndRepeatableReadCallersMixed) {
  const auto created = run_processes(2, 4, {"pending", "running"}, true);
  for (int i = 0; i < kPairs; ++i) {
    EXPECT_EQ(created[i], 1) << "pair " << i;
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), kPairs);
}

TEST_F(JobRace, CustomCheckStatusesUnderRace) {
  // Every pair already has a running job; callers only count pending ones,
  // so each pair gets exactly one new pending job.
  side.exec(
      "INSERT INTO processing_jobs (job_type, target_id, status) "
      "SELECT 'video_process', 'video-' || i, 'running' "
      "FROM generate_series(0, 199) i");
  const auto created = run_processes(4, 4, {"pending"}, false);
  for (int i = 0; i < kPairs; ++i) {
    EXPECT_EQ(created[i], 1) << "pair " << i;
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE status = "
                       "'pending'"),
            kPairs);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2 * kPairs);
}

TEST_F(JobRace, PlainCheckThenInsertIsNotRaceFree) {
  // The seed's pattern, for contrast: job_exists() then create_job() at READ
  // COMMITTED. With threads racing it duplicates jobs; this proves the race
  // test above can fail.
  db::Database database{patient_config()};
  std::atomic<int> created{0};
  std::barrier start(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        const auto tgt = "naive-" + std::to_string(i);
        start.arrive_and_wait();
        auto repo = db::job_repository(database);
        if (!repo->job_exists("video_process", tgt)) {
          std::this_thread::sleep_for(1ms);  // widen the window
          repo->create_job("video_process", tgt);
          ++created;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(created.load(), 50) << "the naive pattern should have duplicated";
}
