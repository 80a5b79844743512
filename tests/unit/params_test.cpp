// Parameter encoding (pure logic; the server round trip is in values_test).
#include <gtest/gtest.h>

#include <soundhash/db/detail/connection.hpp>
#include <soundhash/db/detail/params.hpp>
#include <soundhash/db/errors.hpp>

namespace db = soundhash::db;
namespace d = soundhash::db::detail;

template <class T>
std::string text_of(const T& v) {
  d::Param p;
  d::encode(p, v);
  return p.is_null ? "<null>"
                   : std::string(p.value(), static_cast<size_t>(p.length()));
}

TEST(Params, Scalars) {
  EXPECT_EQ(text_of(42), "42");
  EXPECT_EQ(text_of(std::int64_t{-9007199254740993}), "-9007199254740993");
  EXPECT_EQ(text_of(true), "t");
  EXPECT_EQ(text_of(0.5), "0.5");
  EXPECT_EQ(text_of(std::optional<int>{}), "<null>");
  EXPECT_EQ(text_of(nullptr), "<null>");
  EXPECT_EQ(text_of(std::string("abc")), "abc");
  EXPECT_EQ(text_of(std::string_view("abc")), "abc");
}

TEST(Params, NulInTextIsRejectedBeforeSending) {
  using namespace std::string_literals;
  d::Param p;
  EXPECT_THROW(d::encode(p, "a\0b"s), db::InvalidArgument);
  EXPECT_THROW(d::encode(p, std::string_view("a\0b", 3)), db::InvalidArgument);
  EXPECT_THROW(d::encode(p, std::vector<std::string>{"ok", "a\0b"s}),
               db::InvalidArgument);
}

TEST(Params, TextArrayQuotesEveryElement) {
  EXPECT_EQ(text_of(std::vector<std::string>{"a", "b\"c", "d\\e", ""}),
            R"({"a","b\"c","d\\e",""})");
  EXPECT_EQ(text_of(std::vector<std::string>{}), "{}");
}

TEST(Params, TimestampIsUtcWithMicroseconds) {
  using namespace std::chrono;
  const db::Timestamp t =
      sys_days{2026y / 11 / 27} + 22h + 41min + 4s + 123456us;
  EXPECT_EQ(text_of(t), "2026-11-27 22:41:04.123456+00");
  EXPECT_EQ(text_of(db::Timestamp{}), "1970-01-01 00:00:00.000000+00");
}

TEST(Params, BytesAreBinary) {
  db::Bytes b{std::byte{0}, std::byte{1}, std::byte{255}};
  d::Param p;
  d::encode(p, b);
  EXPECT_TRUE(p.binary);
  EXPECT_EQ(p.type, d::kOidBytea);
  EXPECT_EQ(p.length(), 3);
}

TEST(Redact, PasswordsNeverSurvive) {
  EXPECT_EQ(d::redact_conninfo("postgresql://bob:s3cret@host/db"),
            "postgresql://bob:***@host/db");
  EXPECT_EQ(d::redact_conninfo("host=h password=s3cret user=u"),
            "host=h password=*** user=u");
  EXPECT_EQ(d::redact_conninfo("host=h password = 'se cret' user=u"),
            "host=h password = *** user=u");
  EXPECT_EQ(d::redact_conninfo("postgresql://h/db?password=s3cret&x=1"),
            "postgresql://h/db?password=***&x=1");
}
