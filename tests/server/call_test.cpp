// Calls are units: nested calls join the outermost one, a call is all or
// nothing whatever leaves it, and nothing can end a transaction in the middle
// of a call or of a transact unit. Each test is a defect a review found
// (issue 15), reproduced against the real server.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;

namespace {

class CallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    side.exec("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)");
    db::migrate(database);
  }
  void TearDown() override {
    const auto s = database.pool_stats();
    EXPECT_EQ(s.in_use, 0u) << "a connection was not given back";
  }
  std::string ids() {
    return side.value(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM "
        "items");
  }
  long long jobs() {
    return side.count("SELECT count(*) FROM processing_jobs");
  }
  static void insert(db::Session& s, int id) {
    s.execute("INSERT INTO items VALUES ($1, 'x')", id);
  }

  sh_test::Side side;
  db::Database database{sh_test::config()};
};

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

// Defect 1: the inner create_job's execute_final carried a COMMIT although the
// outer call was still open; the second create then threw logic_error.
TEST_F(CallTest, AutocommitNestedRepositoryCallsJoinTheOuterCall) {
  auto s = database.autocommit_session();
  db::JobRepository repo{s};
  s.call("two jobs", [&] {
    repo.create_job("t", "a");
    repo.create_job("t", "b");
    EXPECT_EQ(jobs(), 0) << "committed before the outer call ended";
  });
  EXPECT_EQ(jobs(), 2);
  EXPECT_FALSE(s.in_transaction());
}

TEST_F(CallTest, AutocommitNestedCallThenFailingStatementKeepsNothing) {
  auto s = database.autocommit_session();
  db::JobRepository repo{s};
  EXPECT_THROW(s.call("job then failure",
                      [&] {
                        repo.create_job("t", "a");
                        s.execute("SELECT * FROM missing");
                      }),
               db::ProgrammingError);
  EXPECT_EQ(jobs(), 0);
  repo.create_job("t", "b");  // the session is still usable
  EXPECT_EQ(jobs(), 1);
}

TEST_F(CallTest, ScopedNestedRepositoryCallsJoinTheOuterCall) {
  {
    auto s = database.session();
    db::JobRepository repo{s};
    insert(s, 1);  // earlier work: the call runs under a savepoint
    EXPECT_THROW(s.call("jobs",
                        [&] {
                          repo.create_job("t", "a");
                          repo.create_job("t", "b");
                          throw Boom();
                        }),
                 Boom);
  }
  EXPECT_EQ(jobs(), 0);
  EXPECT_EQ(ids(), "1");
}

// Defect 2: a C++ exception leaving a call kept its writes.
TEST_F(CallTest, ExceptionLeavingALaterCallRollsItBack) {
  {
    auto s = database.session();
    insert(s, 1);
    EXPECT_THROW(s.call("x",
                        [&] {
                          insert(s, 2);
                          throw Boom();
                        }),
                 Boom);
    insert(s, 3);
  }
  EXPECT_EQ(ids(), "1,3");
}

TEST_F(CallTest, ExceptionLeavingAFirstCallRollsItBack) {
  {
    auto s = database.session();
    EXPECT_THROW(s.call("x",
                        [&] {
                          insert(s, 2);
                          throw Boom();
                        }),
                 Boom);
    EXPECT_FALSE(s.in_transaction());
    insert(s, 3);
  }
  EXPECT_EQ(ids(), "3");
}

TEST_F(CallTest, ExceptionLeavingAnAutocommitCallRollsItBack) {
  auto s = database.autocommit_session();
  EXPECT_THROW(s.call("x",
                      [&] {
                        insert(s, 1);
                        insert(s, 2);
                        throw Boom();
                      }),
               Boom);
  EXPECT_EQ(ids(), "");
}

// Defect 3: a database error caught inside a call split it silently. A call
// whose statement failed stays failed: later statements throw unsent, and
// the call throws at its end.
TEST_F(CallTest, CaughtErrorInALaterCallStillFailsTheCall) {
  {
    auto s = database.session();
    insert(s, 1);
    bool third_ran = false;
    EXPECT_THROW(s.call("x",
                        [&] {
                          insert(s, 2);
                          try {
                            insert(s, 1);  // duplicate key
                          } catch (const db::IntegrityError&) {
                          }
                          EXPECT_THROW(insert(s, 3), db::IntegrityError)
                              << "a statement after the failure was sent";
                          third_ran = true;
                        }),
                 db::IntegrityError);
    EXPECT_TRUE(third_ran);
    insert(s, 4);  // earlier work and the session survive
  }
  EXPECT_EQ(ids(), "1,4");
}

TEST_F(CallTest, CaughtErrorInAFirstCallStillFailsTheCall) {
  side.exec("INSERT INTO items VALUES (1, 'seed')");
  {
    auto s = database.session();
    EXPECT_THROW(s.call("x",
                        [&] {
                          insert(s, 2);
                          try {
                            insert(s, 1);
                          } catch (const db::IntegrityError&) {
                          }
                          try {
                            insert(s, 3);
                          } catch (const db::IntegrityError&) {
                          }
                        }),
                 db::IntegrityError);
    insert(s, 4);
  }
  EXPECT_EQ(ids(), "1,4");
}

TEST_F(CallTest, ExceptionCaughtFromANestedCallStillFailsTheCall) {
  {
    auto s = database.session();
    insert(s, 1);
    EXPECT_THROW(s.call("outer",
                        [&] {
                          insert(s, 2);
                          try {
                            s.call("inner", [&] { throw Boom(); });
                          } catch (const Boom&) {
                          }
                        }),
                 Boom);
  }
  EXPECT_EQ(ids(), "1");
}

TEST_F(CallTest, CaughtErrorInAnAutocommitCallCommitsNothing) {
  side.exec("INSERT INTO items VALUES (1, 'seed')");
  auto s = database.autocommit_session();
  EXPECT_THROW(s.call("x",
                      [&] {
                        insert(s, 2);
                        try {
                          insert(s, 1);
                        } catch (const db::IntegrityError&) {
                        }
                      }),
               db::IntegrityError);
  EXPECT_EQ(ids(), "1");
}

// Defect 6: commit() inside transact let a re-run apply the committed half
// twice. transact owns the transaction: commit() and rollback() refuse.
TEST_F(CallTest, CommitAndRollbackInsideTransactAreRefused) {
  int attempts = 0;
  database.transact([&](db::Session& s) {
    ++attempts;
    insert(s, 1);
    EXPECT_THROW(s.commit(), std::logic_error);
    EXPECT_THROW(s.rollback(), std::logic_error);
    EXPECT_EQ(ids(), "") << "the refused commit committed";
    if (attempts == 1) side.terminate(s.backend_pid());
    insert(s, 2);  // lost connection: the unit is re-run whole
  });
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(ids(), "1,2");
}

// Defect 10: commit() inside a later call broke the next call (its savepoint
// was gone). Ending the transaction inside a call is refused, and the
// session stays usable.
TEST_F(CallTest, CommitOrRollbackInsideACallIsRefusedAndTheSessionGoesOn) {
  {
    auto s = database.session();
    insert(s, 1);
    s.call("x", [&] {
      insert(s, 2);
      EXPECT_THROW(s.commit(), std::logic_error);
      EXPECT_THROW(s.rollback(), std::logic_error);
    });
    EXPECT_EQ(ids(), "");
    insert(s, 3);
    s.call("y", [&] { insert(s, 4); });
  }
  EXPECT_EQ(ids(), "1,2,3,4");
}

TEST_F(CallTest, CommitInsideAnAutocommitCallIsRefused) {
  auto s = database.autocommit_session();
  EXPECT_THROW(s.call("x",
                      [&] {
                        insert(s, 1);
                        s.commit();
                      }),
               std::logic_error);
  EXPECT_EQ(ids(), "");
  insert(s, 2);
  EXPECT_EQ(ids(), "2");
}

// A Session is one thread's: a second thread's call while a call runs is
// refused rather than racing on the connection.
TEST_F(CallTest, ASessionUsedFromTwoThreadsAtOnceRefusesTheSecond) {
  auto s = database.session();
  std::atomic<bool> inside{false};
  std::atomic<bool> done{false};
  std::thread first([&] {
    s.call("slow", [&] {
      insert(s, 1);
      inside = true;
      while (!done) std::this_thread::sleep_for(1ms);
    });
  });
  while (!inside) std::this_thread::sleep_for(1ms);
  EXPECT_THROW(insert(s, 2), std::logic_error);
  EXPECT_THROW(s.commit(), std::logic_error);
  done = true;
  first.join();
  insert(s, 3);  // one thread after the other is fine
  s.commit();
  EXPECT_EQ(ids(), "1,3");
}

}  // namespace
