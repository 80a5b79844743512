#pragma once
// The one fixture of the work-queue tests (queue_*_test.cpp): a migrated
// database, an autocommit session with a JobRepository on it, and helpers.
// RepoTest's TearDown checks that every test gave its connections back.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "repo_fixture.hpp"

namespace sh_test {

namespace db = soundhash::db;

class QueueTest : public RepoTest {
 protected:
  db::NewJob job(std::string target, int priority = 0,
                 std::chrono::milliseconds delay = std::chrono::milliseconds{0},
                 int max_retries = 3) {
    db::NewJob j;
    j.job_type = "fp";
    j.target_id = std::move(target);
    j.priority = priority;
    j.delay = delay;
    j.max_retries = max_retries;
    return j;
  }
  db::NewJob job_of(std::string type, std::string target, int priority = 0) {
    db::NewJob j = job(std::move(target), priority);
    j.job_type = std::move(type);
    return j;
  }
  std::string row(std::int64_t id) {
    return side.value("SELECT p::text FROM processing_jobs p WHERE id = " +
                      std::to_string(id));
  }
  // Kills the backend of the (one) JobListener connected to this database.
  void kill_listener_backend() {
    const auto pid = side.count(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN "
        "soundhash_jobs%' AND datname = current_database()");
    sh_test::Side(sh_test::admin_conninfo()).terminate(static_cast<int>(pid));
  }
  // Runs `work(repo, worker_id, t)` in threads 0..3, each with its own
  // autocommit session; returns the ids they report, sorted.
  template <typename Work>
  std::vector<std::int64_t> four_workers(Work work) {
    std::mutex m;
    std::vector<std::int64_t> all;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto ws = database.autocommit_session();
        db::JobRepository q{ws};
        const auto mine = work(q, "w" + std::to_string(t), t);
        std::lock_guard lock(m);
        all.insert(all.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : threads) t.join();
    std::sort(all.begin(), all.end());
    return all;
  }
  // Rows of processing_jobs that `tx`'s transaction has read so far (by
  // sequential scans and fetched through indexes).
  static std::int64_t rows_read(db::Session& tx) {
    const auto n = tx.read(
                         "SELECT seq_tup_read + idx_tup_fetch FROM "
                         "pg_stat_xact_user_tables WHERE relname = "
                         "'processing_jobs'")
                       .one()[0]
                       .as<std::int64_t>();
    EXPECT_GT(n, 0) << "no counts: is track_counts off?";
    return n;
  }
  // Statistics stay as the test's ANALYZE left them: an autovacuum ANALYZE
  // in between would make the tests of stale statistics pass vacuously.
  void keep_statistics() {
    side.exec("ALTER TABLE processing_jobs SET (autovacuum_enabled = off)");
  }
  // A queue whose statistics were taken while it was idle (20,000 finished
  // jobs), then a burst of 10,000 pending jobs n1..n10000, of the type
  // `type_sql` gives for row g.
  void burst_after_idle_statistics(const std::string& type_sql) {
    keep_statistics();
    side.exec(
        "INSERT INTO processing_jobs (job_type, target_id, status) SELECT "
        "'fp', 'old' || g, 'completed' FROM generate_series(1, 20000) g");
    side.exec("ANALYZE processing_jobs");
    side.exec("INSERT INTO processing_jobs (job_type, target_id) SELECT " +
              type_sql + ", 'n' || g FROM generate_series(1, 10000) g");
  }
  // A pointer: a Session member would make the fixture's destructor
  // noexcept(false).
  std::unique_ptr<db::Session> s{
      new db::Session(database.autocommit_session())};
  db::JobRepository jobs{*s};
};

}  // namespace sh_test
