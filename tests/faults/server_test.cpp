// Faults of the whole server: a restart mid-workload, and downtime longer
// than the retry budget. Each test runs its own private server.
#include <atomic>
#include <thread>

#include "ledger.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// 4. pg_ctl restart -m fast mid-workload: work continues inside the retry
// budget, nothing lost or doubled.
TEST(Server, RestartMidWorkloadCostsRetriesOnly) {
  sh_test::PrivateServer server;
  auto cfg = sh_test::storm_config(server.conninfo(), 15);
  cfg.retry.initial_delay = 50ms;
  cfg.retry.max_delay = 1s;
  db::Database database{cfg};
  db::migrate(database);
  sh_test::Side side(server.conninfo());
  sh_test::Ledger ledger{side};
  std::atomic<bool> restarted{false};
  std::atomic<int> after_restart{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int u = 0; u < 60; ++u) {
        const std::string id =
            "r" + std::to_string(t) + "_" + std::to_string(u);
        const auto outcome = ledger.record(id, [&] {
          database.transact([&](db::Session& s) {
            db::JobRepository jobs{s};
            jobs.create_job_if_not_exists("restart_test", id);
            sh_test::Ledger::write(s, id, 2);
          });
        });
        if (outcome == sh_test::Ledger::Outcome::committed && restarted) {
          ++after_restart;
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  server.restart();
  restarted = true;
  for (auto& w : workers) w.join();
  EXPECT_GT(after_restart.load(), 0);
  EXPECT_EQ(ledger.committed_count() + ledger.in_doubt_count(), 240u);
  sh_test::Side after(server.conninfo());  // the old one died in the restart
  ledger.check(&after);
  sh_test::Ledger::check_clean(database, after);
}

// 5. The server is down longer than the retry budget: callers get
// ConnectionError promptly (no hang), and the same process recovers when the
// server is back.
TEST(Server, DownLongerThanBudgetFailsFastThenRecovers) {
  sh_test::PrivateServer server;
  auto cfg = sh_test::storm_config(server.conninfo(), 3);
  cfg.retry.initial_delay = 20ms;
  cfg.retry.max_delay = 100ms;
  db::Database database{cfg};
  database.transact(
      [](db::Session& s) { s.execute("CREATE TABLE t (x int)"); });
  server.down();
  std::vector<std::thread> callers;
  std::atomic<int> connection_errors{0};
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      const auto start = Clock::now();
      try {
        database.transact(
            [](db::Session& s) { s.execute("INSERT INTO t VALUES (1)"); });
        ADD_FAILURE() << "succeeded against a stopped server";
      } catch (const db::ConnectionError&) {
        ++connection_errors;
      }
      EXPECT_LT(Clock::now() - start, 5s) << "a caller hung";
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(connection_errors.load(), 4);
  EXPECT_EQ(database.pool_stats().in_use, 0u);
  server.up();
  database.transact(
      [](db::Session& s) { s.execute("INSERT INTO t VALUES (2)"); });
  sh_test::Side side(server.conninfo());
  EXPECT_EQ(side.value("SELECT string_agg(x::text, ',') FROM t"), "2");
}
