// A lease gives its connection back however it ends: no path leaks a slot,
// so the pool never shrinks.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

db::Config small_pool(std::size_t size) {
  auto c = sh_test::config();
  c.pool_size = size;
  c.acquire_timeout = 2s;  // a leaked slot shows up as a PoolTimeout
  return c;
}

// Every slot is free, none is over the bound, and all of them can be had at
// once (a leaked slot would make the last acquire time out).
void expect_whole(db::Database& database) {
  auto s = database.pool_stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_LE(s.open, s.max_size);
  auto& pool = sh_test::pool(database);
  std::vector<decltype(pool.acquire())> held;
  for (std::size_t i = 0; i < s.max_size; ++i) {
    ASSERT_NO_THROW(held.push_back(pool.acquire())) << "slot " << i;
  }
  EXPECT_EQ(database.pool_stats().in_use, s.max_size);
  held.clear();
  EXPECT_EQ(database.pool_stats().in_use, 0u);
}

}  // namespace

TEST(PoolLease, ScopeExitGivesTheConnectionBack) {
  db::Database database{small_pool(2)};
  auto& pool = sh_test::pool(database);
  for (int i = 0; i < 5; ++i) {
    auto lease = pool.acquire();
    EXPECT_EQ(lease->exec({"SELECT 1"}).one()[0].as<int>(), 1);
    EXPECT_EQ(database.pool_stats().in_use, 1u);
  }
  EXPECT_EQ(database.pool_stats().created, 1u) << "reused, not reopened";
  expect_whole(database);
}

TEST(PoolLease, AnExceptionWhileHeldGivesItBackRolledBack) {
  db::Database database{small_pool(1)};
  sh_test::Side side;
  side.exec("CREATE TABLE t (x int)");
  auto& pool = sh_test::pool(database);
  try {
    auto lease = pool.acquire();
    lease->exec({"BEGIN"});
    lease->exec({"INSERT INTO t VALUES (1)"});
    throw std::runtime_error("the user's code failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(side.count("SELECT count(*) FROM t"), 0);
  auto lease = pool.acquire();
  EXPECT_EQ(lease->tx_status(), db::detail::TxStatus::idle);
  lease.reset();
  expect_whole(database);
}

TEST(PoolLease, AMovedFromLeaseOwnsNothing) {
  db::Database database{small_pool(2)};
  auto& pool = sh_test::pool(database);
  {
    auto a = pool.acquire();
    auto b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): what is tested
    EXPECT_TRUE(b);
    EXPECT_EQ(database.pool_stats().in_use, 1u);
    a.reset();  // harmless
    EXPECT_EQ(database.pool_stats().in_use, 1u);
  }
  EXPECT_EQ(database.pool_stats().in_use, 0u);
  {
    // Assigning over a held lease gives the old connection back first.
    auto a = pool.acquire();
    a = pool.acquire();
    EXPECT_EQ(database.pool_stats().in_use, 1u);
    auto b = pool.acquire();
    b = std::move(a);
    EXPECT_EQ(database.pool_stats().in_use, 1u);
  }
  expect_whole(database);
}

TEST(PoolLease, ResetGivesItBackEarly) {
  db::Database database{small_pool(1)};
  auto& pool = sh_test::pool(database);
  auto lease = pool.acquire();
  lease.reset();
  EXPECT_FALSE(lease);
  EXPECT_EQ(database.pool_stats().in_use, 0u);
  lease.reset();                // twice is harmless
  auto other = pool.acquire();  // the only slot is free again
  pool.release(std::move(other));
  expect_whole(database);
}

TEST(PoolLease, ABrokenConnectionDroppedIsDiscarded) {
  db::Database database{small_pool(1)};
  sh_test::Side side;
  auto& pool = sh_test::pool(database);
  int pid = 0;
  {
    auto lease = pool.acquire();
    pid = lease->backend_pid();
    side.terminate(pid);
    EXPECT_FALSE(lease->ping());
  }
  const auto s = database.pool_stats();
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.discarded, 1u);
  auto fresh = pool.acquire();
  EXPECT_NE(fresh->backend_pid(), pid);
  fresh.reset();
  expect_whole(database);
}

TEST(PoolLease, ManyThreadsDroppingLeasesEveryWayLeakNothing) {
  constexpr std::size_t kSize = 4;
  auto config = small_pool(kSize);
  config.acquire_timeout = 60s;
  db::Database database{config};
  auto& pool = sh_test::pool(database);
  std::atomic<std::size_t> most_open{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        try {
          auto lease = pool.acquire();
          const auto open = database.pool_stats().open;
          auto seen = most_open.load();
          while (open > seen && !most_open.compare_exchange_weak(seen, open)) {
          }
          switch ((t + i) % 5) {
            case 0:
              break;  // scope exit
            case 1:
              throw std::runtime_error("fails while holding it");
            case 2: {
              auto moved = std::move(lease);
              (void)moved->exec({"SELECT 1"});
              break;
            }
            case 3:
              lease.reset();
              break;
            case 4:
              lease->exec({"BEGIN"});  // left open: rolled back on return
              break;
          }
        } catch (const std::runtime_error&) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most_open.load(), kSize);
  EXPECT_EQ(database.pool_stats().timeouts, 0u);
  expect_whole(database);
}
