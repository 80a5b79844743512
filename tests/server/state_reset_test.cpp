// A pooled connection carries nothing of one user to the next: session state
// a session changed is undone before the connection is lent again, and a
// fork() child neither uses nor closes its parent's connections.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "test_db.hpp"

namespace db = soundhash::db;

namespace {

// One connection: every session gets the same backend.
db::Config one_connection() {
  auto c = sh_test::config();
  c.pool_size = 1;
  return c;
}

std::string text(db::Session& s, const std::string& sql) {
  auto r = s.execute(sql);
  const auto row = r.one();
  return row[0].is_null() ? std::string() : row[0].as<std::string>();
}

long long number(db::Session& s, const std::string& sql) {
  return s.execute(sql).as<std::int64_t>();
}

class PoolStateReset : public ::testing::Test {
 protected:
  /// Runs `sql` in a session of its own (committed) and returns its backend.
  int run_and_end(const std::string& sql) {
    auto s = database.session();
    s.execute(sql);
    return s.backend_pid();
  }

  db::Database database{one_connection()};
  sh_test::Side side;
};

}  // namespace

TEST_F(PoolStateReset, StatementTimeoutDoesNotReachTheNextUser) {
  const int pid = run_and_end("SET statement_timeout = '50ms'");
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid) << "the same pooled connection";
  EXPECT_NO_THROW(s.execute("SELECT pg_sleep(0.2)"))
      << "the previous user's statement_timeout cancelled this";
  EXPECT_EQ(text(s, "SHOW statement_timeout"),
            side.value("SHOW statement_timeout"));
  EXPECT_EQ(database.pool_stats().resets, 1u);
}

TEST_F(PoolStateReset, SetConfigAndRoleDoNotReachTheNextUser) {
  side.exec("CREATE ROLE sh_state_role NOLOGIN");
  int pid = 0;
  {
    auto s = database.session();
    s.execute("SELECT set_config('soundhash.leak', 'leaked', false)");
    s.execute("SET search_path = nowhere, public");
    s.execute("SET ROLE sh_state_role");
    ASSERT_EQ(text(s, "SELECT current_user"), "sh_state_role");
    pid = s.backend_pid();
  }

  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_NE(text(s, "SELECT current_setting('soundhash.leak', true)"),
            "leaked");
  EXPECT_EQ(text(s, "SHOW search_path"), side.value("SHOW search_path"));
  EXPECT_EQ(text(s, "SELECT current_user"), text(s, "SELECT session_user"));
}

TEST_F(PoolStateReset, SessionAuthorizationDoesNotReachTheNextUser) {
  side.exec("CREATE ROLE sh_state_user NOLOGIN");
  const int pid = run_and_end("SET SESSION AUTHORIZATION sh_state_user");
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_NE(text(s, "SELECT session_user"), "sh_state_user");
  EXPECT_NE(text(s, "SELECT current_user"), "sh_state_user");
}

TEST_F(PoolStateReset, AdvisoryLockIsReleased) {
  const int pid = run_and_end("SELECT pg_advisory_lock(4242)");
  EXPECT_EQ(side.count("SELECT count(*) FROM pg_locks WHERE locktype = "
                       "'advisory' AND objid = 4242 AND pid = " +
                       std::to_string(pid)),
            0)
      << "the lock outlived the session that took it";
  EXPECT_EQ(side.value("SELECT pg_try_advisory_lock(4242)"), "t");
  auto s = database.session();
  EXPECT_EQ(s.backend_pid(), pid);
}

TEST_F(PoolStateReset, ListenIsUndone) {
  const int pid = run_and_end("LISTEN soundhash_leak");
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_EQ(number(s, "SELECT count(*) FROM pg_listening_channels()"), 0);
}

TEST_F(PoolStateReset, TempTableIsDropped) {
  const int pid = run_and_end("CREATE TEMP TABLE leak (x int)");
  EXPECT_EQ(side.count("SELECT count(*) FROM pg_class WHERE relname = 'leak'"),
            0);
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_NO_THROW(s.execute("CREATE TEMP TABLE leak (y text)"))
      << "the previous user's temp table is still there";
}

TEST_F(PoolStateReset, PreparedStatementAndHeldCursorAreGone) {
  int pid = 0;
  {
    auto s = database.session();
    s.execute("SELECT $1::int", 1);  // a statement of the library's cache
    s.execute("PREPARE user_stmt AS SELECT 1");
    s.execute("DECLARE user_cur CURSOR WITH HOLD FOR SELECT 1");
    pid = s.backend_pid();
  }

  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_EQ(number(s,
                   "SELECT count(*) FROM pg_prepared_statements WHERE "
                   "name = 'user_stmt'"),
            0);
  EXPECT_EQ(
      number(s, "SELECT count(*) FROM pg_cursors WHERE name = 'user_cur'"), 0);
  // DISCARD ALL dropped the library's statements too: the cache knows.
  EXPECT_EQ(s.execute("SELECT $1::int", 2).as<int>(), 2);
}

TEST_F(PoolStateReset, ResetKeepsTheLibrarysPreparedStatements) {
  auto prepared_after_a_reset = [&] {
    {
      auto s = database.session();
      s.execute("SET statement_timeout = '50ms'");
      s.execute("SELECT $1::int", 1);
    }
    auto s = database.session();
    return number(s, "SELECT count(*) FROM pg_prepared_statements");
  };
  const auto first = prepared_after_a_reset();
  EXPECT_EQ(prepared_after_a_reset(), first)
      << "the reset made the cache forget statements the server still holds";
  EXPECT_EQ(prepared_after_a_reset(), first);
  EXPECT_EQ(database.pool_stats().resets, 3u);
}

TEST_F(PoolStateReset, DeallocateInASessionForgetsTheCacheAtOnce) {
  for (auto kind : {db::Session::Kind::scoped, db::Session::Kind::autocommit}) {
    auto s = kind == db::Session::Kind::scoped ? database.session()
                                               : database.autocommit_session();
    EXPECT_EQ(s.execute("SELECT $1::int", 1).as<int>(), 1);
    s.execute("DEALLOCATE ALL");
    // The same statement again, and the control statements around it, must
    // be prepared afresh, not run under names the server has forgotten.
    EXPECT_EQ(s.execute("SELECT $1::int", 3).as<int>(), 3);
  }
  auto s = database.session();
  EXPECT_EQ(s.execute("SELECT $1::int", 4).as<int>(), 4);
}

TEST_F(PoolStateReset, StateSqlCannotUndoClosesTheConnection) {
  const int pid = run_and_end("LOAD 'auto_explain'");
  auto s = database.session();
  EXPECT_NE(s.backend_pid(), pid);
  EXPECT_EQ(database.pool_stats().discarded, 1u);
}

TEST_F(PoolStateReset, LibraryStatementsCostNoResetAndKeepTheCache) {
  db::migrate(database);
  const auto before = database.pool_stats().resets;
  int pid = 0;
  long long prepared = 0;
  {
    auto repo = db::video_repository(database);
    const auto ch = repo->create_channel("UC_state", "Channel");
    repo->create_video("vid_state", ch.id, "Video");
    EXPECT_TRUE(repo->get_video_by_id("vid_state").has_value());
  }
  {
    auto jobs = db::job_repository(database);
    jobs->create_job_if_not_exists("state_test", "vid_state");
    jobs->create_job_if_not_exists("state_test", "vid_state");
  }
  {
    auto s = database.autocommit_session();
    db::JobRepository jobs{s};
    auto job = jobs.claim_next_job({"state_test"}, "worker");
    ASSERT_TRUE(job.has_value());
    jobs.complete_job(job->id, "worker");
  }
  {
    // Transaction-scoped settings leak nothing and cost nothing.
    auto s = database.session();
    s.execute("SET LOCAL statement_timeout = '50ms'");
    s.execute("SELECT pg_advisory_xact_lock(1)");
    pid = s.backend_pid();
    prepared = number(s, "SELECT count(*) FROM pg_prepared_statements");
  }
  EXPECT_EQ(database.pool_stats().resets, before);
  {
    auto conn = database.pool().acquire();
    EXPECT_EQ(conn->cleanup_needed(), db::detail::Cleanup::none);
    database.pool().release(std::move(conn));
  }
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_GE(number(s, "SELECT count(*) FROM pg_prepared_statements"), prepared)
      << "the library's prepared statements were thrown away";
  EXPECT_EQ(text(s, "SHOW statement_timeout"),
            side.value("SHOW statement_timeout"));
}

TEST_F(PoolStateReset, RolledBackSettingLeaksNothing) {
  int pid = 0;
  try {
    auto s = database.session();
    s.execute("SET statement_timeout = '50ms'");
    pid = s.backend_pid();
    throw std::runtime_error("abandon the unit");
  } catch (const std::runtime_error&) {
  }
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_NO_THROW(s.execute("SELECT pg_sleep(0.1)"));
}

TEST_F(PoolStateReset, ScriptsAndCopyAreSeenToo) {
  int pid = 0;
  {
    auto s = database.session();
    s.run_script("CREATE TABLE t (x int); SET statement_timeout = '50ms'");
    pid = s.backend_pid();
  }
  {
    auto s = database.session();
    ASSERT_EQ(s.backend_pid(), pid);
    EXPECT_NO_THROW(s.execute("SELECT pg_sleep(0.1)"));
    s.copy_in("SET statement_timeout = '50ms'; COPY t FROM STDIN", "1\n2\n");
  }
  auto s = database.session();
  ASSERT_EQ(s.backend_pid(), pid);
  EXPECT_NO_THROW(s.execute("SELECT pg_sleep(0.1)"));
  EXPECT_EQ(number(s, "SELECT count(*) FROM t"), 2);
}

// ---- fork() -------------------------------------------------------------

namespace {

// The child's verdicts (its gtest assertions would not reach the parent).
enum ChildExit {
  kChildOk = 0,
  kChildGotParentsBackend = 10,
  kChildQueryFailed = 11,
  kChildPoolCounted = 12,
  kChildThrew = 13,
};

int wait_for(pid_t child) {
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool backend_alive(sh_test::Side& side, int pid) {
  return side.count("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                    std::to_string(pid)) == 1;
}

}  // namespace

TEST(PoolFork, ChildLeavesTheParentsIdleConnectionAlone) {
  auto database = std::make_unique<db::Database>(one_connection());
  sh_test::Side side;
  int parent_backend = 0;
  {
    auto s = database->session();
    s.execute("SELECT 1");
    parent_backend = s.backend_pid();
  }  // now idle in the pool
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = kChildOk;
    try {
      auto s = database->session();
      if (s.backend_pid() == parent_backend) code = kChildGotParentsBackend;
      if (s.execute("SELECT $1::int", 7).as<int>() != 7) {
        code = kChildQueryFailed;
      }
      s.commit();
      if (database->pool_stats().open != 1) code = kChildPoolCounted;
      database.reset();  // frees what it inherited: must not end the parent's
    } catch (...) {
      code = kChildThrew;
    }
    ::_exit(code);
  }
  EXPECT_EQ(wait_for(child), kChildOk);
  EXPECT_TRUE(backend_alive(side, parent_backend));
  auto s = database->session();
  EXPECT_EQ(s.backend_pid(), parent_backend);
  EXPECT_EQ(s.execute("SELECT $1::int", 8).as<int>(), 8);
  EXPECT_EQ(database->pool_stats().discarded, 0u);
}

TEST(PoolFork, ConnectionOnLoanAtForkIsDroppedSilentlyByTheChild) {
  auto database = std::make_unique<db::Database>(one_connection());
  sh_test::Side side;
  {
    auto s = database->session();
    const int parent_backend = s.backend_pid();  // on loan to `s`
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = kChildOk;
      try {
        // The session's connection is the parent's: the call fails over to
        // a connection of the child's own (in the only slot of the pool).
        if (s.execute("SELECT $1::int", 7).as<int>() != 7) {
          code = kChildQueryFailed;
        }
        if (s.backend_pid() == parent_backend) code = kChildGotParentsBackend;
        s.commit();
        database.reset();
      } catch (...) {
        code = kChildThrew;
      }
      ::_exit(code);
    }
    EXPECT_EQ(wait_for(child), kChildOk);
    EXPECT_TRUE(backend_alive(side, parent_backend));
    EXPECT_EQ(s.backend_pid(), parent_backend);
    EXPECT_EQ(s.execute("SELECT $1::int", 8).as<int>(), 8);
  }
  EXPECT_EQ(database->pool_stats().discarded, 0u);
}
