// Every parameter type goes to the server and comes back unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_db.hpp"

namespace db = soundhash::db;
using namespace std::chrono;
using namespace std::string_literals;

class Values : public ::testing::Test {
 protected:
  template <class T>
  T echo(const std::string& type, const T& v) {
    auto s = database.session();
    return s.execute("SELECT $1::" + type, v).one()[0].template as<T>();
  }
  db::Database database{sh_test::config()};
};

TEST_F(Values, Integers) {
  EXPECT_EQ(echo<std::int16_t>("int2", -32768), -32768);
  EXPECT_EQ(echo<std::int32_t>("int4", 2147483647), 2147483647);
  EXPECT_EQ(
      echo<std::int64_t>("int8", std::numeric_limits<std::int64_t>::min()),
      std::numeric_limits<std::int64_t>::min());
  // Narrowing reads are range-checked.
  auto s = database.session();
  auto big = s.execute("SELECT 70000::int4").one()[0];
  EXPECT_THROW((void)big.as<std::int16_t>(), db::DataError);
  EXPECT_EQ(big.as<std::int64_t>(), 70000);
}

TEST_F(Values, FloatingPoint) {
  EXPECT_DOUBLE_EQ(echo<double>("float8", 0.1), 0.1);
  EXPECT_DOUBLE_EQ(echo<double>("float8", -1e300), -1e300);
  EXPECT_TRUE(std::isnan(echo<double>("float8", std::nan(""))));
  EXPECT_EQ(echo<double>("float8", HUGE_VAL), HUGE_VAL);
  EXPECT_FLOAT_EQ(echo<float>("float4", 1.5f), 1.5f);
}

TEST_F(Values, Bool) {
  EXPECT_TRUE(echo<bool>("bool", true));
  EXPECT_FALSE(echo<bool>("bool", false));
}

TEST_F(Values, Text) {
  EXPECT_EQ(echo<std::string>("text", "héllo ✓ 'quoted' \"dq\" ;--"s),
            "héllo ✓ 'quoted' \"dq\" ;--");
  EXPECT_EQ(echo<std::string>("text", ""s), "");
  EXPECT_EQ(echo<std::string>("varchar", std::string(100000, 'x')),
            std::string(100000, 'x'));
  auto s = database.session();
  EXPECT_EQ(s.execute("SELECT $1::text", std::string_view("view"))
                .one()[0]
                .as<std::string>(),
            "view");
  EXPECT_EQ(s.execute("SELECT $1::text", "literal").one()[0].as<std::string>(),
            "literal");
  EXPECT_EQ(s.execute("SELECT '{\"a\": 1}'::jsonb").one()[0].as<std::string>(),
            "{\"a\": 1}");
}

TEST_F(Values, Bytea) {
  db::Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::byte>(i));
  EXPECT_EQ(echo<db::Bytes>("bytea", all), all);
  EXPECT_EQ(echo<db::Bytes>("bytea", db::Bytes{}), db::Bytes{});
}

TEST_F(Values, NullsAndOptionals) {
  auto s = database.session();
  auto row =
      s.execute("SELECT $1::int8, $2::text, $3::int8",
                std::optional<std::int64_t>{}, std::optional<std::string>{},
                std::optional<std::int64_t>{5})
          .one();
  EXPECT_TRUE(row[0].is_null());
  EXPECT_EQ(row[0].as<std::optional<std::int64_t>>(), std::nullopt);
  EXPECT_EQ(row[1].as<std::optional<std::string>>(), std::nullopt);
  EXPECT_EQ(row[2].as<std::optional<std::int64_t>>(), 5);
  EXPECT_THROW((void)row[0].as<std::int64_t>(), db::ProgrammingError);
}

TEST_F(Values, Timestamps) {
  const db::Timestamp t =
      sys_days{2026y / 11 / 27} + 22h + 41min + 4s + 123456us;
  EXPECT_EQ(echo<db::Timestamp>("timestamptz", t), t);
  const db::Timestamp early = sys_days{1969y / 7 / 20} + 20h + 17min;
  EXPECT_EQ(echo<db::Timestamp>("timestamptz", early), early);
  // Independent of the session's TimeZone and DateStyle.
  auto s = database.session();
  s.execute("SET LOCAL TimeZone = 'Asia/Kolkata'");
  s.execute("SET LOCAL DateStyle = 'SQL, DMY'");
  EXPECT_EQ(s.execute("SELECT $1::timestamptz", t).one()[0].as<db::Timestamp>(),
            t);
  EXPECT_EQ(s.execute("SELECT '2026-11-27 22:41:04.123456+00'::timestamptz")
                .one()[0]
                .as<db::Timestamp>(),
            t);
}

TEST_F(Values, TextArrayForAny) {
  auto s = database.session();
  const std::vector<std::string> wanted{"b", "it's", "q\"uote", "back\\slash"};
  auto r = s.execute(
      "SELECT x FROM unnest(ARRAY['a','b','it''s','q\"uote','back\\slash']) x "
      "WHERE x = ANY($1) ORDER BY x",
      wanted);
  ASSERT_EQ(r.size(), 4u);
  std::vector<std::string> got;
  for (const auto& row : r) got.push_back(row[0].as<std::string>());
  std::vector<std::string> sorted = wanted;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(got, sorted);
  EXPECT_EQ(s.execute("SELECT cardinality($1::bigint[])",
                      std::vector<std::int64_t>{1, 2, 3})
                .one()[0]
                .as<int>(),
            3);
}

TEST_F(Values, ColumnsByName) {
  auto s = database.session();
  auto row = s.execute("SELECT 1 AS one, 'two' AS two").one();
  EXPECT_EQ(row["two"].as<std::string>(), "two");
  EXPECT_EQ(row["one"].as<int>(), 1);
  EXPECT_THROW((void)row["three"], db::ProgrammingError);
  EXPECT_THROW((void)row[0].as<std::string>(), db::ProgrammingError);
}

// system_clock::time_point counts nanoseconds in 64 bits: about 1677-09-21
// to 2262-04-11. A timestamp outside must not wrap into another date.
TEST_F(Values, TimestampOutsideTheNanosecondRangeIsDataError) {
  auto s = database.session();
  for (const std::string literal :
       {"3000-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
        "1600-01-01 00:00:00+00", "0001-01-01 00:00:00+00"}) {
    auto f = s.execute("SELECT '" + literal + "'::timestamptz AS t").one()[0];
    try {
      (void)f.as<db::Timestamp>();
      ADD_FAILURE() << literal << " was read as a Timestamp";
    } catch (const db::DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(literal.substr(0, 10)), std::string::npos) << what;
      EXPECT_NE(what.find("TimestampUs"), std::string::npos) << what;
    }
  }
  // The edges of the range still read.
  EXPECT_EQ(s.execute("SELECT '2262-04-11 23:47:16.854775+00'::timestamptz")
                .one()[0]
                .as<db::Timestamp>(),
            sys_days{2262y / 4 / 11} + 23h + 47min + 16s + 854775us);
  EXPECT_EQ(s.execute("SELECT '1677-09-21 00:12:43.145225+00'::timestamptz")
                .one()[0]
                .as<db::Timestamp>(),
            sys_days{1677y / 9 / 21} + 12min + 43s + 145225us);
}

// TimestampUs reaches PostgreSQL's whole range, both ways, and what it
// writes is what the server means (checked against the server's own text).
TEST_F(Values, TimestampUsRoundTripsTheWholeRange) {
  auto s = database.session();
  s.execute("SET LOCAL TimeZone = 'UTC'");
  const db::TimestampUs bc = sys_days{year{-4712} / 1 / 1} + 12h;
  const std::vector<std::pair<db::TimestampUs, std::string>> cases = {
      {sys_days{1y / 1 / 1}, "0001-01-01 00:00:00+00"},
      {sys_days{1677y / 9 / 21} + 12min + 43s + 145224us,
       "1677-09-21 00:12:43.145224+00"},
      {sys_days{2262y / 4 / 11} + 23h + 47min + 16s + 854776us,
       "2262-04-11 23:47:16.854776+00"},
      {sys_days{3000y / 1 / 1}, "3000-01-01 00:00:00+00"},
      {sys_days{9999y / 12 / 31} + 23h + 59min + 59s + 999999us,
       "9999-12-31 23:59:59.999999+00"},
      {bc, "4713-01-01 12:00:00+00 BC"},
      {sys_days{1970y / 1 / 1} - 1us, "1969-12-31 23:59:59.999999+00"},
  };
  for (const auto& [t, text] : cases) {
    auto row = s.execute(
                    "SELECT $1::timestamptz, $1::timestamptz::text, $2::"
                    "timestamptz",
                    t, text)
                   .one();
    EXPECT_EQ(row[0].as<db::TimestampUs>(), t) << text;
    EXPECT_EQ(row[1].as<std::string>(), text);
    EXPECT_EQ(row[2].as<db::TimestampUs>(), t) << text;
  }
  // Beyond 9999 too (5- and 6-digit years).
  const db::TimestampUs far = sys_days{year{30000} / 6 / 1} + 1us;
  EXPECT_EQ(echo<db::TimestampUs>("timestamptz", far), far);
  // Before 4713 BC is the server's to refuse.
  EXPECT_THROW(
      echo<db::TimestampUs>("timestamptz",
                            db::TimestampUs(sys_days{year{-5000} / 1 / 1})),
      db::DataError);
}

TEST_F(Values, InfiniteTimestampsAreMaxAndMin) {
  auto s = database.session();
  auto row =
      s.execute("SELECT 'infinity'::timestamptz, '-infinity'::timestamptz")
          .one();
  EXPECT_EQ(row[0].as<db::TimestampUs>(), db::TimestampUs::max());
  EXPECT_EQ(row[1].as<db::TimestampUs>(), db::TimestampUs::min());
  EXPECT_EQ(row[0].as<db::Timestamp>(), db::Timestamp::max());
  EXPECT_EQ(row[1].as<db::Timestamp>(), db::Timestamp::min());
  // And back: max() and min() are written as the infinities.
  EXPECT_EQ(s.execute("SELECT $1::timestamptz = 'infinity', $2::timestamptz "
                      "= '-infinity', $3::timestamptz = 'infinity'",
                      db::TimestampUs::max(), db::TimestampUs::min(),
                      db::Timestamp::max())
                .one()[0]
                .as<bool>(),
            true);
  EXPECT_EQ(echo<db::Timestamp>("timestamptz", db::Timestamp::min()),
            db::Timestamp::min());
}
