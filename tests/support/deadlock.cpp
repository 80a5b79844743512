#include "deadlock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace sh_test {

int deadlock_retried_unit(soundhash::db::Database& database, Side& side) {
  using namespace std::chrono_literals;
  side.exec(
      "SET deadlock_timeout = '10s'; BEGIN; "
      "UPDATE accounts SET balance = 0 WHERE id = 2");
  std::atomic<int> attempts{0};
  std::thread unit([&] {
    database.transact([&](soundhash::db::Session& s) {
      ++attempts;
      s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
      s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2");
    });
  });
  // Waits for the unit's lock wait in this test's own database (other
  // tests' waits must not count). On a timeout the side lets go first, so
  // the thread ends before the test fails.
  Side watcher;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (watcher.count("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity"
                       " a USING (pid) WHERE NOT l.granted"
                       " AND a.datname = current_database()") == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      side.exec("ROLLBACK");
      unit.join();
      ADD_FAILURE() << "the unit never waited for the side's row lock";
      return 0;
    }
    std::this_thread::sleep_for(5ms);
  }
  // Blocks until the library's backend, detecting the cycle first, aborts.
  side.exec("UPDATE accounts SET balance = 0 WHERE id = 1; COMMIT");
  unit.join();
  return attempts.load();
}

}  // namespace sh_test
