// Session: lazy connection and BEGIN, commit/rollback at scope exit, the
// savepoint rules, and the connection always going back.
#include <gtest/gtest.h>

#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)");
  }
  void TearDown() override {
    const auto s = database.pool_stats();
    EXPECT_EQ(s.in_use, 0u) << "a connection was not given back";
    EXPECT_EQ(s.idle, s.open);
  }
  long long items() { return side.count("SELECT count(*) FROM items"); }

  sh_test::Side side;
  db::Database database{sh_test::config()};
};

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

}  // namespace

TEST_F(SessionTest, CommitsOnNormalExitVisibleFromAnotherConnection) {
  {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (1, 'a')");
    s.execute("INSERT INTO items VALUES (2, 'b')");
    EXPECT_EQ(items(), 0) << "uncommitted rows leaked";
  }
  EXPECT_EQ(items(), 2);
}

TEST_F(SessionTest, RollsBackWhenAnExceptionLeavesTheScope) {
  sh_test::LogCapture log;
  EXPECT_THROW(
      {
        auto s = database.session();
        s.execute("INSERT INTO items VALUES (1, 'a')");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 0);
  EXPECT_TRUE(log.contains("error|Database session error, rolling back:"));
}

TEST_F(SessionTest, ConnectionAndBeginAreLazy) {
  auto s = database.session();
  EXPECT_EQ(database.pool_stats().in_use, 0u);
  EXPECT_FALSE(s.in_transaction());
  const auto t1 = s.execute("SELECT now()").as<db::Timestamp>();
  EXPECT_EQ(database.pool_stats().in_use, 1u);
  EXPECT_TRUE(s.in_transaction());
  std::this_thread::sleep_for(5ms);
  const auto t2 = s.execute("SELECT now()").as<db::Timestamp>();
  EXPECT_EQ(t1, t2) << "both statements should run in one transaction";
}

TEST_F(SessionTest, ExplicitCommitAndRollback) {
  {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (1, 'kept')");
    s.commit();
    EXPECT_EQ(items(), 1);
    EXPECT_EQ(database.pool_stats().in_use, 0u) << "commit gives it back";
    s.execute("INSERT INTO items VALUES (2, 'dropped')");
    s.rollback();
    s.execute("INSERT INTO items VALUES (3, 'kept at exit')");
  }
  EXPECT_EQ(
      side.value("SELECT string_agg(id::text, ',' ORDER BY id) FROM items"),
      "1,3");
}

TEST_F(SessionTest, WorkCommittedBeforeAnExceptionSurvives) {
  EXPECT_THROW(
      {
        auto s = database.session();
        s.execute("INSERT INTO items VALUES (1, 'a')");
        s.commit();
        s.execute("INSERT INTO items VALUES (2, 'b')");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, DeferredConstraintFailingAtCommitThrowsFromTheScope) {
  side.exec(
      "CREATE TABLE owners (id int PRIMARY KEY);"
      "CREATE TABLE pets (id int, owner int REFERENCES owners "
      "DEFERRABLE INITIALLY DEFERRED)");
  auto scope = [&] {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (1, 'a')");
    s.execute("INSERT INTO pets VALUES (1, 42)");  // fine until COMMIT
  };
  try {
    scope();
    FAIL() << "the failed COMMIT was swallowed";
  } catch (const db::IntegrityError& e) {
    EXPECT_EQ(e.sqlstate(), "23503");
  }
  EXPECT_EQ(items(), 0);
  EXPECT_EQ(side.count("SELECT count(*) FROM pets"), 0);
}

TEST_F(SessionTest, ExplicitCommitFailureThrowsAndSessionStaysUsable) {
  side.exec(
      "CREATE TABLE owners (id int PRIMARY KEY);"
      "CREATE TABLE pets (id int, owner int REFERENCES owners "
      "DEFERRABLE INITIALLY DEFERRED)");
  auto s = database.session();
  s.execute("INSERT INTO pets VALUES (1, 42)");
  EXPECT_THROW(s.commit(), db::IntegrityError);
  s.execute("INSERT INTO items VALUES (1, 'after')");
  s.commit();
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, CaughtErrorInLaterCallKeepsEarlierWork) {
  {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (1, 'a')");
    EXPECT_THROW(s.execute("INSERT INTO items VALUES (1, 'dup')"),
                 db::IntegrityError);
    EXPECT_THROW(s.execute("INSERT INTO items VALUES (2, NULL)"),
                 db::IntegrityError);
    EXPECT_THROW(s.execute("SELECT * FROM missing"), db::ProgrammingError);
    s.execute("INSERT INTO items VALUES (2, 'b')");
  }
  EXPECT_EQ(side.value("SELECT string_agg(name, ',' ORDER BY id) FROM items"),
            "a,b");
}

TEST_F(SessionTest, FailedFirstCallLeavesSessionUsable) {
  {
    auto s = database.session();
    EXPECT_THROW(s.execute("INSERT INTO items VALUES (1, NULL)"),
                 db::IntegrityError);
    EXPECT_FALSE(s.in_transaction());
    s.execute("INSERT INTO items VALUES (1, 'a')");
  }
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, FirstCallRetriesALostConnectionByItself) {
  auto s = database.session();
  const int pid = s.backend_pid();  // connection taken, nothing begun
  side.terminate(pid);
  sh_test::clear_sleeps();
  s.execute("INSERT INTO items VALUES (1, 'a')");
  EXPECT_EQ(sh_test::sleeps(), (std::vector<std::chrono::nanoseconds>{500ms}));
  EXPECT_NE(s.backend_pid(), pid);
  s.commit();
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, TransientErrorInLaterCallLosesTheUnitAndSaysSo) {
  auto s = database.session();
  s.execute("INSERT INTO items VALUES (1, 'a')");
  side.terminate(s.backend_pid());
  sh_test::clear_sleeps();
  EXPECT_THROW(s.execute("INSERT INTO items VALUES (2, 'b')"),
               db::ConnectionError);
  EXPECT_TRUE(sh_test::sleeps().empty()) << "a later call must not retry alone";
  // The unit cannot be silently split: further work and commit refuse.
  EXPECT_THROW(s.execute("INSERT INTO items VALUES (3, 'c')"),
               db::TransientError);
  EXPECT_THROW(s.commit(), db::TransientError);
  // After an explicit rollback the session starts afresh.
  s.rollback();
  s.execute("INSERT INTO items VALUES (4, 'd')");
  s.commit();
  EXPECT_EQ(side.value("SELECT string_agg(id::text, ',') FROM items"), "4");
}

TEST_F(SessionTest, ScopeExitAfterLostUnitThrowsInsteadOfPretending) {
  auto scope = [&] {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (1, 'a')");
    side.terminate(s.backend_pid());
    try {
      s.execute("INSERT INTO items VALUES (2, 'b')");
    } catch (const db::ConnectionError&) {
      // swallowed by a careless caller
    }
  };
  EXPECT_THROW(scope(), db::TransientError);
  EXPECT_EQ(items(), 0);
}

TEST_F(SessionTest, ManualSessionRollsBackWhatWasNotCommitted) {
  sh_test::LogCapture log;
  {
    auto s = database.manual_session();
    s.execute("INSERT INTO items VALUES (1, 'kept')");
    s.commit();
    s.execute("INSERT INTO items VALUES (2, 'forgotten')");
  }
  EXPECT_EQ(items(), 1);
  EXPECT_TRUE(log.contains("warning|Session closed with uncommitted work"));
}

TEST_F(SessionTest, ReadOnlySessionRefusesWrites) {
  auto s = database.session({.read_only = true});
  EXPECT_THROW(s.execute("INSERT INTO items VALUES (1, 'a')"), db::Error);
  EXPECT_EQ(items(), 0);
}

TEST_F(SessionTest, IsolationLevelIsApplied) {
  auto s = database.session({.isolation = db::Isolation::serializable});
  EXPECT_EQ(s.execute("SELECT current_setting('transaction_isolation')")
                .as<std::string>(),
            "serializable");
}

// The default level is asked for by name: a stricter server default must
// not turn a READ COMMITTED unit (and its shortcuts) into something else.
TEST_F(SessionTest, ReadCommittedIsNamedWhateverTheServerDefault) {
  auto c = sh_test::config();
  c.conninfo += " options='-c default_transaction_isolation=serializable'";
  db::Database strict{c};
  const std::string q = "SELECT current_setting('transaction_isolation')";
  auto s = strict.session();
  EXPECT_EQ(s.read(q).as<std::string>(), "read committed");
  EXPECT_EQ(s.execute(q).as<std::string>(), "read committed");
  auto raw = strict.session({.isolation = db::Isolation::serializable});
  EXPECT_EQ(raw.execute("SHOW default_transaction_isolation").as<std::string>(),
            "serializable")
      << "the option reached the server";
}

TEST_F(SessionTest, LeadingReadAtReadCommittedLeavesNothingOpen) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  auto s = database.session();
  EXPECT_EQ(s.read("SELECT name FROM items WHERE id = $1", 1).as<std::string>(),
            "a");
  EXPECT_FALSE(s.in_transaction())
      << "a leading read needs no open transaction";
  // A write sent through read() is refused by the server, nothing written.
  try {
    s.read("INSERT INTO items VALUES (2, 'sneaky')");
    FAIL();
  } catch (const db::Error& e) {
    EXPECT_EQ(e.sqlstate(), "25006");
  }
  EXPECT_EQ(items(), 1);
}

// execute_last_may_write_nothing: a leading write that turned out to write
// nothing ends its transaction at once, like a leading read; anything else
// keeps the unit whole.
namespace {
constexpr const char* kInsertIfAbsent =
    "INSERT INTO items VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";

// The server's state of backend `pid` ("idle", "idle in transaction", ...)
// once it is `want`, or after 5 s whatever it is then: a COMMIT sent without
// waiting reaches the server a moment after the call returns.
std::string backend_state(sh_test::Side& side, int pid,
                          const std::string& want) {
  const std::string q =
      "SELECT state FROM pg_stat_activity WHERE pid = " + std::to_string(pid);
  std::string state = side.value(q);
  for (int i = 0; i < 500 && state != want; ++i) {
    std::this_thread::sleep_for(10ms);
    state = side.value(q);
  }
  return state;
}
}  // namespace

TEST_F(SessionTest, ALeadingWriteThatWroteNothingLeavesNothingOpen) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  auto s = database.session();
  const int pid = s.backend_pid();
  auto r = s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
  EXPECT_EQ(r.affected_rows(), 0);
  EXPECT_FALSE(s.in_transaction());
  // The COMMIT went out without the call waiting for it; the server has it.
  EXPECT_EQ(backend_state(side, pid, "idle"), "idle");
  // A later write begins a new transaction, and the unit still rolls back
  // as a whole from there.
  EXPECT_THROW(
      {
        s.execute("INSERT INTO items VALUES (2, 'b')");
        EXPECT_TRUE(s.in_transaction());
        EXPECT_EQ(backend_state(side, pid, "idle in transaction"),
                  "idle in transaction");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, ALeadingWriteThatWroteKeepsItsTransaction) {
  EXPECT_THROW(
      {
        auto s = database.session();
        auto r = s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "a");
        EXPECT_EQ(r.affected_rows(), 1);
        EXPECT_TRUE(s.in_transaction());
        EXPECT_EQ(backend_state(side, s.backend_pid(), "idle in transaction"),
                  "idle in transaction");
        EXPECT_EQ(items(), 0) << "not committed before the scope ends";
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 0);
  {
    auto s = database.session();
    s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "a");
  }
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, AWriteOfNothingAfterEarlierWorkKeepsTheUnit) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  EXPECT_THROW(
      {
        auto s = database.session();
        s.execute("INSERT INTO items VALUES (2, 'b')");
        s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
        EXPECT_TRUE(s.in_transaction()) << "the earlier write is still open";
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 1);
}

TEST_F(SessionTest, AWriteOfNothingAtRepeatableReadTakesNoShortcut) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  auto s = database.session({.isolation = db::Isolation::repeatable_read});
  s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
  EXPECT_TRUE(s.in_transaction()) << "the snapshot must be kept";
  side.exec("INSERT INTO items VALUES (2, 'b')");
  EXPECT_EQ(s.read("SELECT count(*) FROM items").as<int>(), 1);
}

TEST_F(SessionTest, AConnectionWithABackgroundCommitServesTheNextUser) {
  auto c = sh_test::config();
  c.pool_size = 1;
  c.ping_after_idle = 0ms;  // every reuse pings, after reading the reply
  db::Database one{c};
  side.exec("INSERT INTO items VALUES (1, 'a')");
  for (int i = 0; i < 3; ++i) {
    auto s = one.session();
    s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
  }
  {
    auto s = one.session();
    EXPECT_EQ(s.execute("SELECT count(*) FROM items").as<int>(), 1);
    s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
    s.execute("INSERT INTO items VALUES (2, 'b')");
  }
  EXPECT_EQ(items(), 2);
  EXPECT_EQ(one.pool_stats().created, 1u) << "the one connection was reused";
  EXPECT_EQ(one.pool_stats().discarded, 0u);
}

TEST_F(SessionTest, ABackendKilledAfterABackgroundCommitIsReplaced) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  int pid = 0;
  {
    auto s = database.session();
    pid = s.backend_pid();
    s.execute_last_may_write_nothing(kInsertIfAbsent, 1, "again");
  }
  side.terminate(pid);
  {
    auto s = database.session();
    s.execute("INSERT INTO items VALUES (2, 'b')");
    EXPECT_NE(s.backend_pid(), pid);
  }
  EXPECT_EQ(items(), 2);
}

TEST_F(SessionTest, ReadOnlyStartThenWriteIsStillOneUnit) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  EXPECT_THROW(
      {
        auto s = database.session();
        (void)s.read("SELECT count(*) FROM items");
        s.execute("INSERT INTO items VALUES (2, 'b')");
        EXPECT_TRUE(s.in_transaction());
        (void)s.read("SELECT count(*) FROM items");  // inside the unit now
        s.execute("INSERT INTO items VALUES (3, 'c')");
        throw Boom();
      },
      Boom);
  EXPECT_EQ(items(), 1) << "both writes belong to one rolled-back unit";
  {
    auto s = database.session();
    (void)s.read("SELECT count(*) FROM items");
    s.execute("INSERT INTO items VALUES (2, 'b')");
    EXPECT_EQ(s.read("SELECT count(*) FROM items").as<int>(), 2)
        << "a read after a write sees the unit's own writes";
  }
  EXPECT_EQ(items(), 2);
}

TEST_F(SessionTest, RepeatableReadTakesNoShortcut) {
  side.exec("INSERT INTO items VALUES (1, 'a')");
  auto s = database.session({.isolation = db::Isolation::repeatable_read});
  EXPECT_EQ(s.read("SELECT count(*) FROM items").as<int>(), 1);
  EXPECT_TRUE(s.in_transaction()) << "the snapshot must be kept";
  side.exec("INSERT INTO items VALUES (2, 'b')");
  EXPECT_EQ(s.read("SELECT count(*) FROM items").as<int>(), 1)
      << "same snapshot for the whole unit";
}

// A server that closes a connection with a FATAL of its own (here
// idle_session_timeout, SQLSTATE 57P05) has lost it like any other: the call
// that meets it retries, whatever the SQLSTATE of the server's goodbye.
TEST_F(SessionTest, FirstCallAfterIdleSessionTimeoutRetries) {
  auto c = sh_test::config();
  c.conninfo += " options='-c idle_session_timeout=100'";
  db::Database timing_out{c};
  auto s = timing_out.session();
  // A leading read keeps the connection, with no transaction open.
  EXPECT_EQ(s.read("SELECT 1").as<int>(), 1);
  ASSERT_FALSE(s.in_transaction());
  const int pid = s.backend_pid();
  side.wait_gone(pid, 30s);
  sh_test::clear_sleeps();
  s.execute("INSERT INTO items VALUES (1, 'a')");
  EXPECT_EQ(sh_test::sleeps(), (std::vector<std::chrono::nanoseconds>{500ms}));
  EXPECT_NE(s.backend_pid(), pid);
  s.commit();
  EXPECT_EQ(items(), 1);
  EXPECT_EQ(timing_out.pool_stats().in_use, 0u);
}
