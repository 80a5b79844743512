// Database::transact: whole-unit retries, one budget, no retry of a COMMIT
// whose outcome is unknown.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class Transact : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
        "INSERT INTO accounts VALUES (1, 100), (2, 100);"
        "CREATE TABLE log (unit text NOT NULL)");
    sh_test::clear_sleeps();
  }
  void TearDown() override { EXPECT_EQ(database.pool_stats().in_use, 0u); }
  sh_test::Side side;
  db::Database database{sh_test::config()};
};

}  // namespace

TEST_F(Transact, ReturnsWhatTheUnitReturnsAndCommits) {
  const int balance = database.transact([](db::Session& s) {
    s.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1");
    return s.execute("SELECT balance FROM accounts WHERE id = 1").as<int>();
  });
  EXPECT_EQ(balance, 90);
  EXPECT_EQ(side.count("SELECT balance FROM accounts WHERE id = 1"), 90);
}

// A unit that returns a reference (here into a result the unit made) gets a
// copy back: the reference would dangle once the unit is over.
TEST_F(Transact, AReferenceTheUnitReturnsComesBackAsACopy) {
  std::vector<std::string> names;
  auto&& got = database.transact([&](db::Session& s) -> std::string& {
    names.push_back(s.execute("SELECT 'from the unit'").as<std::string>());
    return names.back();
  });
  static_assert(std::is_same_v<decltype(got), std::string&&>,
                "transact must return by value");
  names.clear();
  names.shrink_to_fit();
  EXPECT_EQ(got, "from the unit");
}

TEST_F(Transact, ExceptionRollsBackAndPropagates) {
  EXPECT_THROW(database.transact([](db::Session& s) {
    s.execute("INSERT INTO log VALUES ('x')");
    throw std::logic_error("caller bug");
  }),
               std::logic_error);
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 0);
  EXPECT_TRUE(sh_test::sleeps().empty());
}

TEST_F(Transact, DeadlockedUnitsBothCommitExactlyOnce) {
  std::barrier both_locked(2);
  std::atomic<int> attempts{0};
  auto transfer = [&](int from, int to, const char* name) {
    bool first = true;
    database.transact([&](db::Session& s) {
      ++attempts;
      s.execute("UPDATE accounts SET balance = balance - 1 WHERE id = $1",
                from);
      if (first) {
        first = false;
        both_locked.arrive_and_wait();  // both hold their first row now
      }
      s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", to);
      s.execute("INSERT INTO log VALUES ($1)", name);
    });
  };
  std::thread a(transfer, 1, 2, "a"), b(transfer, 2, 1, "b");
  a.join();
  b.join();
  EXPECT_EQ(side.value("SELECT string_agg(unit, ',' ORDER BY unit) FROM log"),
            "a,b");
  EXPECT_EQ(side.count("SELECT sum(balance) FROM accounts"), 200);
  // The victim re-ran (with the recorded, non-sleeping backoff its retry can
  // meet the winner again, so it may take more than one); each re-run
  // followed one backoff.
  EXPECT_GE(attempts.load(), 3);
  EXPECT_EQ(sh_test::sleeps().size(),
            static_cast<std::size_t>(attempts.load() - 2));
}

TEST_F(Transact, UnitWhoseBackendIsKilledIsRerunAndCommittedOnce) {
  int attempts = 0;
  database.transact([&](db::Session& s) {
    ++attempts;
    s.execute("INSERT INTO log VALUES ('unit')");
    if (attempts == 1) side.terminate(s.backend_pid());
    s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 1);
  EXPECT_EQ(side.count("SELECT balance FROM accounts WHERE id = 1"), 101);
}

TEST_F(Transact, CallsInsideDoNotRetryOnTheirOwn) {
  int attempts = 0;
  database.transact([&](db::Session& s) {
    ++attempts;
    if (attempts == 1) side.terminate(s.backend_pid());
    s.execute("INSERT INTO log VALUES ('first call')");  // fails on attempt 1
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(sh_test::sleeps().size(), 1u) << "retried twice over";
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 1);
}

TEST_F(Transact, OneRetryBudgetForTheWholeUnit) {
  int attempts = 0;
  EXPECT_THROW(database.transact([&](db::Session& s) {
    ++attempts;
    s.execute("INSERT INTO log VALUES ('x')");
    side.terminate(s.backend_pid());
    s.execute("INSERT INTO log VALUES ('y')");
  }),
               db::ConnectionError);
  EXPECT_EQ(attempts, 4);  // 1 + max_retries, not multiplied by inner retries
  EXPECT_EQ(sh_test::sleeps(),
            (std::vector<std::chrono::nanoseconds>{500ms, 1000ms, 2000ms}));
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 0);
}

TEST_F(Transact, SerializationFailureIsRetriedWithAFreshSnapshot) {
  int attempts = 0;
  database.transact(
      [&](db::Session& s) {
        ++attempts;
        const int b =
            s.execute("SELECT balance FROM accounts WHERE id = 1").as<int>();
        if (attempts == 1) {
          side.exec("UPDATE accounts SET balance = balance + 50 WHERE id = 1");
        }
        s.execute("UPDATE accounts SET balance = $1 WHERE id = 1", b + 1);
      },
      {.isolation = db::Isolation::repeatable_read});
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(side.count("SELECT balance FROM accounts WHERE id = 1"), 151)
      << "the lost update would give 101";
}

TEST_F(Transact, ConnectionLostDuringCommitIsCommitInDoubtAndNotRetried) {
  // A deferred trigger makes COMMIT take a while; we kill the backend then.
  side.exec(R"(
    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON log
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
  )");
  std::atomic<int> pid{0};
  std::thread killer([&] {
    sh_test::Side k;
    while (pid.load() == 0) std::this_thread::sleep_for(1ms);
    const auto p = std::to_string(pid.load());
    // Wait until the backend is inside COMMIT, then kill it.
    for (int i = 0; i < 2000; ++i) {
      if (k.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + p +
                  " AND query = 'COMMIT' AND state = 'active'") == 1) {
        k.terminate(pid.load());
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
    ADD_FAILURE() << "never saw the COMMIT";
  });
  int attempts = 0;
  try {
    database.transact([&](db::Session& s) {
      ++attempts;
      s.execute("INSERT INTO log VALUES ('maybe')");
      pid = s.backend_pid();
    });
    ADD_FAILURE() << "commit succeeded";
  } catch (const db::CommitInDoubt& e) {
    EXPECT_NE(std::string(e.what()).find("may or may not have committed"),
              std::string::npos);
    EXPECT_FALSE(e.is_transient());
  }
  killer.join();
  EXPECT_EQ(attempts, 1) << "a COMMIT in doubt must never be retried";
  EXPECT_TRUE(sh_test::sleeps().empty());
}

// The server closing a connection with a FATAL of its own is a lost
// connection whatever its SQLSTATE: the unit runs again.
namespace {
// A Database whose connections the server closes after `setting` ms idle.
db::Config timing_out(const std::string& setting) {
  auto c = sh_test::config();
  c.conninfo += " options='-c " + setting + "=100'";
  return c;
}

}  // namespace

TEST_F(Transact, IdleSessionTimeoutInTheUnitReRunsIt) {
  db::Database database57p05{timing_out("idle_session_timeout")};
  int attempts = 0;
  database57p05.transact([&](db::Session& s) {
    ++attempts;
    // A leading read holds the connection with no transaction open.
    EXPECT_EQ(s.read("SELECT count(*) FROM log").as<int>(), 0);
    if (attempts == 1) side.wait_gone(s.backend_pid(), 30s);
    s.execute("INSERT INTO log VALUES ('unit')");
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(sh_test::sleeps().size(), 1u);
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 1);
}

TEST_F(Transact, IdleInTransactionTimeoutInALaterCallReRunsTheUnit) {
  db::Database database25p03{timing_out("idle_in_transaction_session_timeout")};
  int attempts = 0;
  database25p03.transact([&](db::Session& s) {
    ++attempts;
    s.execute("INSERT INTO log VALUES ('unit')");
    if (attempts == 1) side.wait_gone(s.backend_pid(), 30s);
    s.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(sh_test::sleeps().size(), 1u);
  EXPECT_EQ(side.count("SELECT count(*) FROM log"), 1);
  EXPECT_EQ(side.count("SELECT balance FROM accounts WHERE id = 1"), 101);
}
