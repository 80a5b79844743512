// Faults from contention: deadlocks, lock timeouts, serialization failures,
// pool exhaustion. Each ends with the ledger invariant.
#include <atomic>
#include <latch>
#include <random>
#include <thread>

#include "ledger.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class Contention : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
        "INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 4) g");
  }
  sh_test::Side side;
  sh_test::Ledger ledger{side};
};

}  // namespace

// 1. Eight threads update overlapping rows in opposite orders through
// repository-style calls inside transact: deadlock victims re-run, everyone
// commits exactly once, money is conserved.
TEST_F(Contention, DeadlocksEightThreadsOppositeOrders) {
  db::Database database{sh_test::storm_config(sh_test::conninfo(), 50)};
  sh_test::LogCapture log;
  std::atomic<int> attempts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int u = 0; u < 15; ++u) {
        const std::string id =
            "t" + std::to_string(t) + "u" + std::to_string(u);
        int order[4] = {1, 2, 3, 4};
        if (t % 2) std::reverse(order, order + 4);
        try {
          database.transact([&](db::Session& s) {
            ++attempts;
            for (int k = 0; k < 4; ++k) {
              s.execute(
                  "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                  order[k], k % 2 ? 1 : -1);
            }
            sh_test::Ledger::write(s, id, 3);
          });
          ledger.committed(id);
        } catch (const db::Error& e) {
          ADD_FAILURE() << id << ": " << e.what();
          ledger.failed(id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ledger.committed_count(), 8u * 15u);
  EXPECT_EQ(side.count("SELECT sum(balance) FROM accounts"), 4000);
  EXPECT_TRUE(log.contains("deadlock detected")) << "no deadlock happened";
  ledger.check();
  sh_test::Ledger::check_clean(database, side);
  std::printf("deadlocks: %d units, %d attempts\n", 120, attempts.load());
}

// 2. A blocker holds row locks; sessions with a lock_timeout fail with 55P03,
// back off with nothing held, and succeed once the blocker leaves.
TEST_F(Contention, LockTimeoutsRetriedUntilTheBlockerLeaves) {
  auto cfg = sh_test::storm_config(sh_test::conninfo(), 30);
  cfg.retry.initial_delay = 50ms;
  db::Database database{cfg};
  sh_test::Side blocker;
  blocker.exec("BEGIN; SELECT * FROM accounts FOR UPDATE");
  std::atomic<int> timeouts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "lt" + std::to_string(t);
      try {
        database.transact([&](db::Session& s) {
          s.execute("SET LOCAL lock_timeout = '100ms'");
          try {
            s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1",
                      t % 4 + 1);
          } catch (const db::LockNotAvailableError&) {
            ++timeouts;
            throw;
          }
          sh_test::Ledger::write(s, id, 2);
        });
        ledger.committed(id);
      } catch (const db::Error& e) {
        ADD_FAILURE() << e.what();
        ledger.failed(id);
      }
    });
  }
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(side.count("SELECT count(*) FROM units"), 0)
      << "nobody got past the blocker";
  blocker.exec("ROLLBACK");
  for (auto& t : threads) t.join();
  EXPECT_GE(timeouts.load(), 4)
      << "every session should have timed out at least once";
  EXPECT_EQ(ledger.committed_count(), 4u);
  EXPECT_EQ(side.count("SELECT sum(balance) FROM accounts"), 4004);
  ledger.check();
  sh_test::Ledger::check_clean(database, side);
}

// 6. SERIALIZABLE units with read/write conflicts: each reads the total and
// writes a row depending on it; 40001s are retried, and the result is what a
// serial order would give.
TEST_F(Contention, SerializationFailuresAtSerializable) {
  db::Database database{sh_test::storm_config(sh_test::conninfo(), 100)};
  side.exec("CREATE TABLE tally (n int NOT NULL)");
  std::atomic<int> attempts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int u = 0; u < 10; ++u) {
        const std::string id =
            "s" + std::to_string(t) + "_" + std::to_string(u);
        database.transact(
            [&](db::Session& s) {
              ++attempts;
              const auto n =
                  s.execute("SELECT count(*) FROM tally").as<long long>();
              s.execute("INSERT INTO tally VALUES ($1)", n + 1);
              sh_test::Ledger::write(s, id, 1);
            },
            {.isolation = db::Isolation::serializable});
        ledger.committed(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  // Serial order means the values are exactly 1..60.
  EXPECT_EQ(side.count("SELECT count(DISTINCT n) FROM tally"), 60);
  EXPECT_EQ(side.count("SELECT max(n) FROM tally"), 60);
  EXPECT_GT(attempts.load(), 60) << "no serialization failure happened";
  ledger.check();
  sh_test::Ledger::check_clean(database, side);
}

// 7. 64 threads over a pool of 4 with a short acquire timeout: some get
// PoolTimeout, nothing else breaks, the rest commit exactly once.
TEST_F(Contention, PoolExhaustionGivesPoolTimeoutOnly) {
  auto cfg = sh_test::storm_config(sh_test::conninfo(), 3);
  cfg.pool_size = 4;
  cfg.acquire_timeout = 30ms;
  db::Database database{cfg};
  std::atomic<int> timeouts{0}, other{0};
  std::vector<std::thread> threads;
  // All start together, and each unit holds its connection well past the
  // acquire timeout: however slowly threads start (TSan), 60 of them meet a
  // full pool.
  std::latch start(64);
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "p" + std::to_string(t);
      start.arrive_and_wait();
      try {
        database.transact([&](db::Session& s) {
          sh_test::Ledger::write(s, id, 1);
          s.execute("SELECT pg_sleep(0.1)");
        });
        ledger.committed(id);
      } catch (const db::PoolTimeout&) {
        ++timeouts;
        ledger.failed(id);
      } catch (const std::exception& e) {
        ++other;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(timeouts.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ledger.committed_count() + ledger.failed_count(), 64u);
  EXPECT_EQ(database.pool_stats().timeouts,
            static_cast<std::uint64_t>(timeouts.load()));
  ledger.check();
  sh_test::Ledger::check_clean(database, side);
  // And the pool still serves.
  database.transact([](db::Session& s) { s.execute("SELECT 1"); });
}
