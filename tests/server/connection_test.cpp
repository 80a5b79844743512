// Statements, prepared-statement cache and the lack of it, on a real server.
#include <gtest/gtest.h>

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
      .one()[0]
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
    EXPECT_EQ(s.execute("SELECT $1::int + 1", i).one()[0].as<int>(), i + 1);
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
  EXPECT_EQ(s.execute("SELECT x FROM later_table").one()[0].as<int>(), 7);
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
  EXPECT_THROW((void)r.one(), db::ProgrammingError);
  EXPECT_FALSE(s.execute("SELECT 1 WHERE false").first().has_value());
}

TEST(Connection, SessionTalksToServer15) {
  db::Database database{sh_test::config()};
  auto s = database.session();
  const auto v = s.execute("SELECT current_setting('server_version_num')::int")
                     .one()[0]
                     .as<int>();
  EXPECT_GE(v, 150000);
  EXPECT_LT(v, 160000);
}
