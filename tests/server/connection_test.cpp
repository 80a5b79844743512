// Statements, the prepared-statement cache and the lack of it, and a COMMIT
// sent without waiting, on a real server.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_db.hpp"

namespace db = soundhash::db;

namespace {

db::Config with_prepared(bool on) {
  auto c = sh_test::config();
  c.prepared_statements = on;
  return c;
}

long long prepared_count(db::Session& s) {
  return s.execute("SELECT count(*) FROM pg_prepared_statements")
      .as<long long>();
}

}  // namespace

TEST(Connection, PreparedStatementsAreCachedPerConnection) {
  db::Database database{with_prepared(true)};
  auto s = database.session();
  for (int i = 0; i < 5; ++i) s.execute("SELECT $1::int + 1", i);
  // BEGIN, the SELECT above and the count query itself.
  const auto n = prepared_count(s);
  for (int i = 0; i < 5; ++i) s.execute("SELECT $1::int + 1", i);
  EXPECT_EQ(prepared_count(s), n);
  EXPECT_GE(n, 2);
}

TEST(Connection, WithoutPreparedStatementsNothingIsPrepared) {
  db::Database database{with_prepared(false)};
  auto s = database.session();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(s.execute("SELECT $1::int + 1", i).as<int>(), i + 1);
  }
  EXPECT_EQ(prepared_count(s), 0);
}

TEST(Connection, AFailedPrepareIsNotCached) {
  db::Database database{with_prepared(true)};
  sh_test::Side side;
  auto s = database.session();
  EXPECT_THROW(s.execute("SELECT * FROM later_table"), db::ProgrammingError);
  s.rollback();
  side.exec(
      "CREATE TABLE later_table (x int); INSERT INTO later_table VALUES (7)");
  EXPECT_EQ(s.execute("SELECT x FROM later_table").as<int>(), 7);
}

TEST(Connection, ResultMetadata) {
  db::Database database{sh_test::config()};
  auto s = database.session();
  s.execute("CREATE TABLE t (x int)");
  EXPECT_EQ(
      s.execute("INSERT INTO t SELECT generate_series(1, 5)").affected_rows(),
      5);
  auto r = s.execute("SELECT x, x * 2 AS y FROM t ORDER BY x");
  EXPECT_EQ(r.size(), 5u);
  EXPECT_EQ(r.columns(), 2);
  EXPECT_EQ(r[4]["y"].as<int>(), 10);
  EXPECT_THROW((void)r.one(), db::UnexpectedRowCount);
  EXPECT_FALSE(s.execute("SELECT 1 WHERE false").first().has_value());
}

TEST(Connection, SessionTalksToServer15) {
  db::Database database{sh_test::config()};
  auto s = database.session();
  const auto v =
      s.execute("SELECT current_setting('server_version_num')::int").as<int>();
  EXPECT_GE(v, 150000);
  EXPECT_LT(v, 160000);
}

// commit_in_background: the COMMIT goes out, its reply is read by whatever
// uses the connection next, and every way of using it next copes.
TEST(Connection, EveryUseAfterABackgroundCommitReadsItsReplyFirst) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  side.exec("CREATE TABLE t (x int)");
  auto conn = database.pool().acquire();
  auto background_commit = [&] {
    conn->exec({"BEGIN"});
    (void)conn->exec({"SELECT count(*) FROM t"});
    conn->commit_in_background();
    EXPECT_EQ(conn->tx_status(), db::detail::TxStatus::idle);
  };
  background_commit();
  EXPECT_EQ(conn->exec({"SELECT 41 + 1"}).as<int>(), 42);
  EXPECT_EQ(conn->tx_status(), db::detail::TxStatus::idle);
  background_commit();
  conn->exec_script("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
  background_commit();
  EXPECT_EQ(conn->copy_in("COPY t FROM STDIN", "3\n"), 1);
  background_commit();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // reply in
  EXPECT_FALSE(conn->hung_up()) << "a COMMIT's reply is not a hang-up";
  EXPECT_TRUE(conn->ping());
  background_commit();
  EXPECT_FALSE(conn->hung_up());
  database.pool().release(std::move(conn));  // kept: idle, not broken
  EXPECT_EQ(database.pool_stats().discarded, 0u);
  EXPECT_EQ(side.count("SELECT count(*) FROM t"), 3);
}

TEST(Connection, ABatchBehindABackgroundCommitOnALostConnectionFailsAsLost) {
  db::Database database{sh_test::config()};
  sh_test::Side side;
  auto conn = database.pool().acquire();
  conn->exec({"BEGIN"});
  conn->commit_in_background();
  side.terminate(conn->backend_pid());
  const db::detail::Statement st{"SELECT 1"};
  db::Result r;
  const auto outcome = conn->run({&st, 1}, {&r, 1});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failed, 0);
  EXPECT_THROW(std::rethrow_exception(outcome.error), db::ConnectionError);
  EXPECT_TRUE(conn->broken());
  database.pool().release(std::move(conn));
  EXPECT_EQ(database.pool_stats().discarded, 1u);
}

// Keepalives and tcp_user_timeout are on by default so that a server that
// vanishes without closing its sockets is noticed in about 30 s, not after
// the operating system's TCP timeouts; a conninfo's own values win.
TEST(Connection, TcpKeepalivesAreOnByDefaultAndTheConninfoWins) {
  // Over TCP (a later keyword wins): keepalives do not apply to unix sockets.
  const std::string tcp = sh_test::conninfo() + " host=127.0.0.1";
  {
    db::detail::Connection c(tcp, false);
    EXPECT_EQ(c.option("keepalives"), "1");
    EXPECT_EQ(c.option("keepalives_idle"), "15");
    EXPECT_EQ(c.option("keepalives_interval"), "5");
    EXPECT_EQ(c.option("keepalives_count"), "3");
    EXPECT_EQ(c.option("tcp_user_timeout"), "30000");
    EXPECT_EQ(c.exec({"SELECT 1"}).as<int>(), 1);
  }
  {
    db::detail::Connection c(
        tcp + " keepalives_idle=77 tcp_user_timeout=0 keepalives=0", false);
    EXPECT_EQ(c.option("keepalives_idle"), "77");
    EXPECT_EQ(c.option("tcp_user_timeout"), "0");
    EXPECT_EQ(c.option("keepalives"), "0");
    EXPECT_EQ(c.option("keepalives_count"), "3");
  }
}
