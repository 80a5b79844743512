// The pool: bounded, thread-safe, self-healing.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

void expect_pool_full(db::Database& d) {
  const auto s = d.pool_stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.idle, s.open);
  EXPECT_LE(s.open, s.max_size);
}

}  // namespace

TEST(Pool, ThirtyTwoThreadsOverFourConnections) {
  auto c = sh_test::config();
  c.pool_size = 4;
  c.acquire_timeout = 60s;
  db::Database database{c};
  sh_test::Side side;
  side.exec("CREATE TABLE hits (thread int, i int)");
  constexpr int kThreads = 32, kIterations = 25;
  std::atomic<std::size_t> max_in_use{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        auto s = database.session();
        s.execute("INSERT INTO hits VALUES ($1, $2)", t, i);
        const auto in_use = database.pool_stats().in_use;
        auto seen = max_in_use.load();
        while (in_use > seen &&
               !max_in_use.compare_exchange_weak(seen, in_use)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(side.count("SELECT count(*) FROM hits"), kThreads * kIterations);
  EXPECT_EQ(side.count("SELECT count(DISTINCT (thread, i)) FROM hits"),
            kThreads * kIterations);
  EXPECT_LE(max_in_use.load(), 4u);
  expect_pool_full(database);
  EXPECT_LE(database.pool_stats().created, 4u);
  // No backend leaked: the server sees at most the pool's connections.
  EXPECT_LE(side.count("SELECT count(*) FROM pg_stat_activity WHERE "
                       "application_name = 'soundhash-db' AND datname = "
                       "current_database()"),
            4);
}

TEST(Pool, AcquireTimeoutThrowsPoolTimeout) {
  auto c = sh_test::config();
  c.pool_size = 1;
  c.acquire_timeout = 100ms;
  db::Database database{c};
  auto holder = database.session();
  holder.execute("SELECT 1");  // holds the only connection
  std::thread other([&] {
    auto s = database.session();
    EXPECT_THROW(s.execute("SELECT 1"), db::PoolTimeout);
  });
  other.join();
  EXPECT_EQ(database.pool_stats().timeouts, 1u);
  holder.commit();
  // Once freed, the connection serves the next caller.
  database.session().execute("SELECT 1");
  expect_pool_full(database);
}

TEST(Pool, ReturnedTransactionIsRolledBack) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  side.exec("CREATE TABLE t (x int)");
  {
    auto conn = database.pool().acquire();
    conn->exec({"BEGIN"});
    conn->exec({"INSERT INTO t VALUES (1)"});
    database.pool().release(std::move(conn));
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM t"), 0);
  auto conn = database.pool().acquire();
  EXPECT_EQ(conn->tx_status(), db::detail::TxStatus::idle);
  database.pool().release(std::move(conn));
  expect_pool_full(database);
}

TEST(Pool, BrokenConnectionIsDiscarded) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  auto conn = database.pool().acquire();
  const int pid = conn->backend_pid();
  side.terminate(pid);
  EXPECT_FALSE(conn->ping());
  database.pool().release(std::move(conn));
  auto s = database.pool_stats();
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(s.discarded, 1u);
  auto fresh = database.pool().acquire();
  EXPECT_NE(fresh->backend_pid(), pid);
  database.pool().release(std::move(fresh));
}

TEST(Pool, EveryPooledBackendKilledNextOperationsSucceed) {
  auto c = sh_test::config();
  c.pool_size = 4;
  db::Database database{c};
  sh_test::Side side;
  // Open all four connections at once.
  {
    std::vector<std::unique_ptr<db::detail::Connection>> held;
    for (int i = 0; i < 4; ++i) held.push_back(database.pool().acquire());
    for (auto& h : held) database.pool().release(std::move(h));
  }
  ASSERT_EQ(database.pool_stats().idle, 4u);
  side.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "application_name = 'soundhash-db' AND datname = current_database()");
  while (side.count("SELECT count(*) FROM pg_stat_activity WHERE "
                    "application_name = 'soundhash-db' AND datname = "
                    "current_database()") > 0) {
    std::this_thread::sleep_for(10ms);
  }
  sh_test::clear_sleeps();
  for (int i = 0; i < 8; ++i) {
    auto s = database.session();
    EXPECT_EQ(s.execute("SELECT $1::int", i).as<int>(), i);
  }
  // Each dead one has its server's goodbye waiting on its socket, so the
  // pool usually discards it before use: no retry. Should a goodbye not have
  // arrived yet, the first failure marks the pool and the pre-ping catches
  // the rest: one retry at most.
  EXPECT_LE(sh_test::sleeps().size(), 1u);
  EXPECT_GE(database.pool_stats().discarded, 4u);
  expect_pool_full(database);
}

TEST(Pool, IdleConnectionIsPingedBeforeReuse) {
  auto c = sh_test::config();
  c.ping_after_idle = 20ms;
  db::Database database{c};
  sh_test::Side side;
  int pid = 0;
  {
    auto s = database.session();
    pid = s.backend_pid();
    s.execute("SELECT 1");
  }
  side.terminate(pid);
  std::this_thread::sleep_for(50ms);
  sh_test::clear_sleeps();
  auto s = database.session();
  EXPECT_EQ(s.execute("SELECT 2").as<int>(), 2);
  EXPECT_NE(s.backend_pid(), pid);
  EXPECT_TRUE(sh_test::sleeps().empty()) << "the dead connection cost a retry";
}

// Timeouts of "forever" must not overflow into "already expired".
TEST(Pool, AcquireTimeoutOfMaxWaitsForTheConnection) {
  auto c = sh_test::config();
  c.pool_size = 1;
  c.acquire_timeout = std::chrono::milliseconds::max();
  db::Database database{c};
  std::atomic<bool> waiting{false};
  int got = 0;
  {
    auto holder = database.session();
    holder.execute("SELECT 1");  // holds the only connection
    std::thread other([&] {
      waiting = true;
      try {
        auto s = database.session();
        got = s.execute("SELECT 2").as<int>();
      } catch (const db::PoolTimeout&) {
        got = -1;  // gave up at once instead of waiting
      }
    });
    while (!waiting) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);  // let it wait on the full pool
    holder.commit();
    other.join();
  }
  EXPECT_EQ(got, 2);
  EXPECT_EQ(database.pool_stats().timeouts, 0u);
  expect_pool_full(database);
}

TEST(Pool, PingAfterIdleOfMaxNeverPings) {
  // A ping is an empty query, which pg_stat_activity shows as the backend's
  // last query: after reuse without a ping, the last query is still ours.
  auto last_query_after_reuse = [](std::chrono::milliseconds ping_after) {
    auto c = sh_test::config();
    c.pool_size = 1;
    c.ping_after_idle = ping_after;
    db::Database database{c};
    sh_test::Side side;
    { database.session().execute("SELECT 'marker'"); }
    std::this_thread::sleep_for(2ms);  // idle for longer than 0 ms
    auto s = database.session();
    return side.value("SELECT query FROM pg_stat_activity WHERE pid = " +
                      std::to_string(s.backend_pid()));
  };
  EXPECT_EQ(last_query_after_reuse(0ms), "");  // the test sees pings
  EXPECT_NE(last_query_after_reuse(std::chrono::milliseconds::max()), "");
}
