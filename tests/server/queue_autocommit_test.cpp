// Autocommit sessions, as queue workers use them, against a real server:
// each call its own durable transaction, with nothing held between calls.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "queue_fixture.hpp"

namespace db = soundhash::db;
using namespace std::chrono_literals;
using sh_test::QueueTest;

TEST_F(QueueTest, AutocommitCallsAreDurableWhenTheyReturn) {
  auto a = database.autocommit_session();
  db::JobRepository q{a};
  q.create_job("fp", "durable");
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 1)
      << "visible to others before the session's scope ends";
  EXPECT_FALSE(a.in_transaction());
  EXPECT_EQ(database.pool_stats().in_use, 0u)
      << "the connection goes back between calls";

  // A failing call undoes only itself; earlier calls stay committed.
  EXPECT_THROW(q.create_job("fp", std::string(300, 'x')), db::DataError);
  q.create_job("fp", "after");
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2);
}

TEST_F(QueueTest, AutocommitMultiStatementCallIsStillOneTransaction) {
  auto a = database.autocommit_session();
  EXPECT_THROW(a.call("two",
                      [&] {
                        a.execute(
                            "INSERT INTO processing_jobs (job_type, "
                            "target_id) VALUES ('fp', 'first')");
                        a.execute(
                            "INSERT INTO processing_jobs (job_type, "
                            "target_id) VALUES ('fp', $1)",
                            std::string(300, 'x'));
                      }),
               db::DataError);
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 0)
      << "the first statement of a failed call was committed";
  a.call("two", [&] {
    a.execute(
        "INSERT INTO processing_jobs (job_type, target_id) VALUES "
        "('fp', 'a')");
    a.execute(
        "INSERT INTO processing_jobs (job_type, target_id) VALUES "
        "('fp', 'b')");
  });
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs"), 2);
  EXPECT_THROW(a.call("bad",
                      [&] {
                        a.execute_last("SELECT 1");
                        a.execute("SELECT 2");
                      }),
               std::logic_error);
}

TEST_F(QueueTest, AutocommitRetriesALockTimeoutWithNothingHeld) {
  const auto id = jobs.create_job(job("locked")).id;
  jobs.claim_next_job({"fp"}, "w");
  auto cfg = sh_test::config();
  cfg.conninfo += " options='-c lock_timeout=100'";
  db::Database timed{cfg};
  auto a = timed.autocommit_session();
  db::JobRepository q{a};

  sh_test::Side locker;
  locker.exec("BEGIN; SELECT 1 FROM processing_jobs WHERE id = " +
              std::to_string(id) + " FOR UPDATE");
  sh_test::clear_sleeps();
  EXPECT_THROW(q.heartbeat(id, "w"), db::LockNotAvailableError);
  EXPECT_EQ(sh_test::sleeps().size(), 3u) << "retried with backoff";
  locker.exec("ROLLBACK");
  q.heartbeat(id, "w");
}

// A backend killed while it runs an autocommit write answers the write with
// its goodbye (57P01): replies come in order, so the COMMIT queued behind the
// write never ran, and the write is retried like any first call. (A COMMIT
// whose own answer is lost is in doubt: Kill.AutocommitCommitWhoseAnswerIsLost
// IsCommitInDoubt.)
TEST_F(QueueTest, AutocommitWriteKilledBeforeItsCommitIsRetriedReadToo) {
  side.exec(
      "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$; CREATE TRIGGER slow "
      "BEFORE INSERT ON channels FOR EACH ROW EXECUTE FUNCTION slow_insert()");
  auto a = database.autocommit_session();
  const int pid = a.backend_pid();
  a.rollback();  // back to the pool; the next call reuses the connection
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    sh_test::Side(sh_test::admin_conninfo()).terminate(pid);
  });
  sh_test::clear_sleeps();
  a.execute("INSERT INTO channels (channel_id) VALUES ('c')");
  killer.join();
  EXPECT_EQ(sh_test::sleeps().size(), 1u) << "the write was not retried";
  EXPECT_EQ(side.count("SELECT count(*) FROM channels"), 1);

  const int pid2 = a.backend_pid();
  a.rollback();
  std::thread killer2([&] {
    std::this_thread::sleep_for(200ms);
    sh_test::Side(sh_test::admin_conninfo()).terminate(pid2);
  });
  EXPECT_EQ(a.read("SELECT 7 FROM pg_sleep(0.5)").one()[0].as<int>(), 7);
  killer2.join();
  EXPECT_EQ(sh_test::sleeps().size(), 2u) << "a lost read is simply retried";
}

TEST_F(QueueTest, AsynchronousCommitIsSetPerTransactionOnly) {
  side.exec(
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
      "synchronous_commit = on', current_database()); END $$");
  db::Database fresh{sh_test::config()};
  const std::string q = "SELECT current_setting('synchronous_commit')";
  auto setting = [&](db::TxOptions o, bool autocommit) {
    if (autocommit) {
      auto a = fresh.autocommit_session(o);
      return a.execute(q).one()[0].as<std::string>();
    }
    auto unit = fresh.session(o);
    return unit.execute(q).one()[0].as<std::string>();
  };
  EXPECT_EQ(setting({}, false), "on");
  EXPECT_EQ(setting({.synchronous_commit = false}, false), "off");
  EXPECT_EQ(setting({.synchronous_commit = false}, true), "off");
  EXPECT_EQ(setting({}, true), "on") << "SET LOCAL leaked into the pool";
  EXPECT_EQ(fresh.pool_stats().open, 1u) << "all on one pooled connection";

  auto a = fresh.autocommit_session({.synchronous_commit = false});
  db::JobRepository async_jobs{a};
  const auto id = async_jobs.create_job("fp", "async").id;
  EXPECT_EQ(side.count("SELECT count(*) FROM processing_jobs WHERE id = " +
                       std::to_string(id)),
            1);
}
