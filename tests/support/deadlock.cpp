#include "deadlock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace sh_test {
namespace {

using namespace std::chrono_literals;

// Waits until a lock wait shows in this test's own database (other tests'
// waits must not count); false after 60 s.
bool await_lock_wait(Side& watcher) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (watcher.count("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity"
                       " a USING (pid) WHERE NOT l.granted"
                       " AND a.datname = current_database()") == 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

// The cycle closes with the library's own request: the side waits for row 1
// first, and only then does the unit ask for row 2. A backend looks for a
// deadlock once, deadlock_timeout after it starts waiting; the unit's
// backend (1 s) therefore always sees the whole cycle and is the victim,
// long before the side's (10 s) looks, however slow the machine.
int deadlock_retried_unit(soundhash::db::Database& database, Side& side) {
  side.exec(
      "SET deadlock_timeout = '10s'; BEGIN; "
      "UPDATE accounts SET balance = 0 WHERE id = 2");
  std::atomic<int> attempts{0};
  std::atomic<bool> holds_row_1{false};
  std::atomic<bool> side_waits{false};
  std::atomic<bool> unit_done{false};
  // What the threads threw: reported after the joins, since an exception
  // leaving a thread would abort the whole test binary.
  std::string unit_threw, side_threw;
  std::thread unit([&] {
    try {
      database.transact([&](soundhash::db::Session& s) {
        const int attempt = ++attempts;
        s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
        if (attempt == 1) {
          holds_row_1 = true;
          while (!side_waits) std::this_thread::sleep_for(1ms);
        }
        s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2");
      });
    } catch (const std::exception& e) {
      unit_threw = e.what();
    }
    unit_done = true;
  });
  while (!holds_row_1 && !unit_done) {
    std::this_thread::sleep_for(1ms);
  }
  // Blocks until the library's backend, finding the cycle, aborts.
  std::thread other([&] {
    try {
      side.exec("UPDATE accounts SET balance = 0 WHERE id = 1; COMMIT");
    } catch (const std::exception& e) {
      side_threw = e.what();
      side_waits = true;
    }
  });
  Side watcher;
  const bool waited = await_lock_wait(watcher);
  side_waits = true;
  other.join();
  unit.join();
  if (!waited) {
    ADD_FAILURE() << "the side never waited for the unit's row lock";
    return 0;
  }
  if (!side_threw.empty() || !unit_threw.empty()) {
    ADD_FAILURE() << "side: " << side_threw << "; unit after "
                  << attempts.load() << " attempts: " << unit_threw;
    return 0;
  }
  return attempts.load();
}

}  // namespace sh_test
