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
    return s.execute("SELECT $1::" + type, v).template as<T>();
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
  EXPECT_THROW((void)big.as<std::int16_t>(), db::ConversionError);
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
  EXPECT_EQ(
      s.execute("SELECT $1::text", std::string_view("view")).as<std::string>(),
      "view");
  EXPECT_EQ(s.execute("SELECT $1::text", "literal").as<std::string>(),
            "literal");
  EXPECT_EQ(s.execute("SELECT '{\"a\": 1}'::jsonb").as<std::string>(),
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
  EXPECT_THROW((void)row[0].as<std::int64_t>(), db::UnexpectedNull);
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
  EXPECT_EQ(s.execute("SELECT $1::timestamptz", t).as<db::Timestamp>(), t);
  EXPECT_EQ(s.execute("SELECT '2026-11-27 22:41:04.123456+00'::timestamptz")
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
                .as<int>(),
            3);
}

TEST_F(Values, ColumnsByName) {
  auto s = database.session();
  auto row = s.execute("SELECT 1 AS one, 'two' AS two").one();
  EXPECT_EQ(row["two"].as<std::string>(), "two");
  EXPECT_EQ(row["one"].as<int>(), 1);
  EXPECT_THROW((void)row["three"], db::ResultError);
  EXPECT_THROW((void)row[0].as<std::string>(), db::ConversionError);
}

// system_clock::time_point counts nanoseconds in 64 bits: about 1677-09-21
// to 2262-04-11. A timestamp outside must not wrap into another date.
TEST_F(Values, TimestampOutsideTheNanosecondRangeIsConversionError) {
  auto s = database.session();
  for (const std::string literal :
       {"3000-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
        "1600-01-01 00:00:00+00", "0001-01-01 00:00:00+00"}) {
    auto f = s.execute("SELECT '" + literal + "'::timestamptz AS t").one()[0];
    try {
      (void)f.as<db::Timestamp>();
      ADD_FAILURE() << literal << " was read as a Timestamp";
    } catch (const db::ConversionError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(literal.substr(0, 10)), std::string::npos) << what;
      EXPECT_NE(what.find("TimestampUs"), std::string::npos) << what;
    }
  }
  // The edges of the range still read.
  EXPECT_EQ(s.execute("SELECT '2262-04-11 23:47:16.854775+00'::timestamptz")
                .as<db::Timestamp>(),
            sys_days{2262y / 4 / 11} + 23h + 47min + 16s + 854775us);
  EXPECT_EQ(s.execute("SELECT '1677-09-21 00:12:43.145225+00'::timestamptz")
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

// A type of the caller's own, outside the library, bound and read through
// db::value_traits.
namespace shop {
struct Money {
  std::int64_t cents = 0;
  bool operator==(const Money&) const = default;
};
}  // namespace shop

template <>
struct soundhash::db::value_traits<shop::Money> {
  static std::string to_sql(const shop::Money& m) {
    return std::to_string(m.cents / 100) + "." +
           (m.cents % 100 < 10 ? "0" : "") + std::to_string(m.cents % 100);
  }
  static shop::Money from_sql(const db::Value& v) {
    // numeric comes in binary; read it as the cents the query computes.
    return shop::Money{v.as<std::int64_t>()};
  }
};

TEST_F(Values, UserTypeBindsAndReads) {
  auto s = database.session();
  const shop::Money m{1234};
  // Bound as text ('12.34'), read back from an integer column.
  EXPECT_EQ(s.execute("SELECT ($1::numeric * 100)::int8", m).as<shop::Money>(),
            m);
  EXPECT_EQ(s.execute("SELECT $1::text", m).as<std::string>(), "12.34");
  // In optionals.
  const std::optional<shop::Money> none;
  EXPECT_EQ(s.execute("SELECT ($1::numeric * 100)::int8", none)
                .as<std::optional<shop::Money>>(),
            std::nullopt);
  EXPECT_EQ(s.execute("SELECT 5::int8").as<std::optional<shop::Money>>(),
            shop::Money{5});
  EXPECT_THROW((void)s.execute("SELECT NULL::int8").as<shop::Money>(),
               db::UnexpectedNull);
  // In arrays, both ways, NULL elements included.
  const std::vector<std::optional<shop::Money>> prices{
      shop::Money{100}, std::nullopt, shop::Money{5}};
  EXPECT_EQ(s.execute("SELECT $1::text[]::text", prices).as<std::string>(),
            "{1.00,NULL,0.05}");
  EXPECT_EQ(s.execute("SELECT array_agg((x * 100)::int8 ORDER BY o) FROM "
                      "unnest($1::numeric[]) WITH ORDINALITY AS t(x, o)",
                      prices)
                .as<std::vector<std::optional<shop::Money>>>(),
            prices);
}

TEST_F(Values, Arrays) {
  auto s = database.session();
  const std::vector<std::int32_t> ints{1, -2, 2147483647};
  EXPECT_EQ(echo<std::vector<std::int32_t>>("int4[]", ints), ints);
  const std::vector<std::int64_t> longs{
      std::numeric_limits<std::int64_t>::min(), 0};
  EXPECT_EQ(echo<std::vector<std::int64_t>>("int8[]", longs), longs);
  const std::vector<double> doubles{0.1, -1e300};
  EXPECT_EQ(echo<std::vector<double>>("float8[]", doubles), doubles);
  const std::vector<bool> bools{true, false};
  EXPECT_EQ(echo<std::vector<bool>>("bool[]", bools), bools);
  const std::vector<std::string> texts{"a", "it's", "q\"uote", "back\\slash",
                                       "",  "NULL", "{}",      "a,b"};
  EXPECT_EQ(echo<std::vector<std::string>>("text[]", texts), texts);
  const std::vector<std::optional<std::int32_t>> holes{1, std::nullopt, 3};
  EXPECT_EQ(echo<std::vector<std::optional<std::int32_t>>>("int4[]", holes),
            holes);
  const std::vector<db::Bytes> blobs{db::Bytes{std::byte{0}, std::byte{255}},
                                     db::Bytes{}};
  EXPECT_EQ(echo<std::vector<db::Bytes>>("bytea[]", blobs), blobs);
  const std::vector<db::Timestamp> times{
      db::Timestamp(sys_days{2026y / 11 / 27} + 22h + 123456us)};
  EXPECT_EQ(echo<std::vector<db::Timestamp>>("timestamptz[]", times), times);
  EXPECT_EQ(echo<std::vector<std::int32_t>>("int4[]", {}),
            std::vector<std::int32_t>{});
  // Reading the wrong element type, or a NULL element into a non-optional.
  EXPECT_THROW((void)s.execute("SELECT ARRAY[1, NULL]::int4[]")
                   .as<std::vector<std::int32_t>>(),
               db::UnexpectedNull);
  EXPECT_THROW((void)s.execute("SELECT ARRAY['x']::text[]")
                   .as<std::vector<std::int32_t>>(),
               db::ConversionError);
  EXPECT_THROW((void)s.execute("SELECT ARRAY[[1], [2]]::int4[]")
                   .as<std::vector<std::int32_t>>(),
               db::ConversionError);
}

TEST_F(Values, DurationsAndDates) {
  EXPECT_EQ(echo<microseconds>("interval", 90min + 5us), 90min + 5us);
  EXPECT_EQ(echo<seconds>("interval", -3s), -3s);
  EXPECT_EQ(echo<milliseconds>("interval", 49h), milliseconds(49h));
  auto s = database.session();
  EXPECT_EQ(s.execute("SELECT interval '2 days 1 hour'").as<hours>(), 49h);
  EXPECT_THROW((void)s.execute("SELECT interval '1 month'").as<seconds>(),
               db::ConversionError);
  EXPECT_EQ(s.execute("SELECT now() - $1 < now()", 1h).as<bool>(), true);
  const sys_days day = 2026y / 2 / 28;
  EXPECT_EQ(s.execute("SELECT $1::date", day).as<sys_days>(), day);
  EXPECT_EQ(s.execute("SELECT date '1969-07-20'").as<sys_days>(),
            sys_days{1969y / 7 / 20});
  // A bytea parameter from a borrowed span.
  const std::array<std::byte, 2> raw{std::byte{1}, std::byte{2}};
  EXPECT_EQ(s.execute("SELECT $1::bytea", std::span<const std::byte>(raw))
                .as<db::Bytes>(),
            db::Bytes(raw.begin(), raw.end()));
}

TEST_F(Values, OneValueOneRowTuples) {
  auto s = database.session();
  EXPECT_EQ(s.execute("SELECT 42").as<int>(), 42);
  EXPECT_EQ(s.execute("SELECT 42 WHERE false").optional<int>(), std::nullopt);
  EXPECT_EQ(s.execute("SELECT NULL::int").optional<int>(), std::nullopt);
  EXPECT_EQ(s.execute("SELECT 7").optional<int>(), 7);
  EXPECT_THROW((void)s.execute("SELECT 42 WHERE false").as<int>(),
               db::UnexpectedRowCount);
  EXPECT_THROW((void)s.execute("SELECT generate_series(1, 2)").as<int>(),
               db::UnexpectedRowCount);
  EXPECT_THROW((void)s.execute("SELECT generate_series(1, 2)").optional<int>(),
               db::UnexpectedRowCount);
  EXPECT_THROW((void)s.execute("SELECT 1, 2").as<int>(), db::ResultError);
  EXPECT_THROW((void)s.execute("SELECT 1, 2 WHERE false").optional<int>(),
               db::ResultError);
  const auto row = s.execute("SELECT 1::int8, 'two', NULL::float8").one();
  const auto [a, b, c] =
      row.as<std::tuple<std::int64_t, std::string, std::optional<double>>>();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, "two");
  EXPECT_EQ(c, std::nullopt);
  EXPECT_EQ(row.as<std::tuple<std::string>>(1), std::tuple<std::string>("two"));
  EXPECT_THROW((void)(row.as<std::tuple<int, int>>(2)), db::ResultError);
  const auto pairs = s.execute("SELECT x, x * 2 FROM generate_series(1, 3) x")
                         .as_vector<std::tuple<int, int>>();
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[2], std::make_tuple(3, 6));
}

// Client-side misuse is a ResultError, apart from the server's classes.
TEST_F(Values, ResultErrorsAreNotServerErrors) {
  auto s = database.session();
  try {
    (void)s.execute("SELECT NULL::int").as<int>();
    ADD_FAILURE();
  } catch (const db::ResultError& e) {
    EXPECT_EQ(dynamic_cast<const db::ProgrammingError*>(&e), nullptr);
    EXPECT_TRUE(e.sqlstate().empty());
    EXPECT_FALSE(e.is_transient());
  }
}

// A failing statement's error names the statement, never its parameters.
TEST_F(Values, ErrorsCarryTheStatementButNoParameter) {
  auto s = database.session();
  const std::string sql = "SELECT $1::int / 0 AS secret_math";
  try {
    s.execute(sql, std::string("424242"));
    ADD_FAILURE();
  } catch (const db::DataError& e) {
    EXPECT_EQ(e.statement(), sql);
    EXPECT_EQ(std::string(e.what()).find("424242"), std::string::npos)
        << e.what();
  }
  try {
    s.execute("SELECT $1::int", std::string("hunter2-secret"));
    ADD_FAILURE();
  } catch (const db::DataError& e) {
    EXPECT_EQ(e.statement(), "SELECT $1::int");
    EXPECT_EQ(std::string(e.what()).find("hunter2-secret"), std::string::npos)
        << e.what();
    EXPECT_EQ(e.detail().find("hunter2-secret"), std::string::npos);
  }
}

// Every CopyWriter type lands in a column of its type and reads back.
TEST_F(Values, CopyWriterRoundTrip) {
  auto s = database.session();
  s.execute(
      "CREATE TEMP TABLE copied (b bool, i2 int2, i4 int4, i8 int8, f4 float4, "
      "f8 float8, t text, v varchar(10), by bytea, ts timestamptz, n int8, "
      "m int8)");
  const db::Timestamp when =
      sys_days{2026y / 11 / 27} + 22h + 41min + 4s + 123456us;
  db::CopyWriter copy;
  for (int k = 0; k < 2; ++k) {
    copy.row(12);
    copy.add(k == 0);
    copy.add(std::int16_t{-7});
    copy.add(std::int32_t{2147483647});
    copy.add(std::int64_t{-9007199254740993});
    copy.add(1.5f);
    copy.add(0.1);
    copy.add(std::string("tab\there \"q\" \\"));
    copy.add("short");
    copy.add(db::Bytes{std::byte{0}, std::byte{255}});
    copy.add(k == 0 ? when : db::Timestamp::max());
    copy.add(std::optional<std::int64_t>{});
    copy.add(shop::Money{k});  // value_traits: to_sql gives text, not int8
  }
  EXPECT_THROW(
      s.copy_in("COPY copied FROM STDIN (FORMAT binary)", copy.finish()),
      db::Error);
  s.rollback();
  s.execute(
      "CREATE TEMP TABLE copied (b bool, i2 int2, i4 int4, i8 int8, f4 float4, "
      "f8 float8, t text, v varchar(10), by bytea, ts timestamptz, n int8, "
      "m text)");
  db::CopyWriter good;
  good.row(12);
  good.add(true);
  good.add(std::int16_t{-7});
  good.add(std::int32_t{2147483647});
  good.add(std::int64_t{-9007199254740993});
  good.add(1.5f);
  good.add(0.1);
  good.add(std::string("tab\there \"q\" \\"));
  good.add("short");
  good.add(db::Bytes{std::byte{0}, std::byte{255}});
  good.add(when);
  good.add(std::optional<std::int64_t>{});
  good.add(shop::Money{1234});
  EXPECT_EQ(s.copy_in("COPY copied FROM STDIN (FORMAT binary)", good.finish()),
            1);
  const auto row = s.execute("SELECT * FROM copied").one();
  EXPECT_EQ(
      (row.as<
          std::tuple<bool, std::int16_t, std::int32_t, std::int64_t, float,
                     double, std::string, std::string, db::Bytes, db::Timestamp,
                     std::optional<std::int64_t>, std::string>>()),
      std::make_tuple(true, std::int16_t{-7}, 2147483647,
                      std::int64_t{-9007199254740993}, 1.5f, 0.1,
                      std::string("tab\there \"q\" \\"), std::string("short"),
                      db::Bytes{std::byte{0}, std::byte{255}}, when,
                      std::optional<std::int64_t>{}, std::string("12.34")));
}
