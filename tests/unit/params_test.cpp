// Parameter encoding (pure logic; the server round trip is in values_test).
#include <gtest/gtest.h>

#include <soundhash/db/copy_writer.hpp>
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
            "user=u password=*** host=h");
  EXPECT_EQ(d::redact_conninfo("host=h password = 'se cret' user=u"),
            "user=u password=*** host=h");
  EXPECT_EQ(d::redact_conninfo(
                "postgresql://h/db?password=s3cret&application_name=x"),
            "postgresql://:***@h/db?application_name=x");
  EXPECT_EQ(d::redact_conninfo(""), "");
  EXPECT_EQ(d::redact_conninfo("mydb"), "mydb");  // a bare database name
}

namespace {

// A password with every character that URIs and key=value quoting treat
// specially.
const std::string kPassword = "Pw?@:/#%&=' \\ x9";

// `s` percent-encoded: every byte, or only what a URI's userinfo must encode.
std::string percent(std::string_view s, bool all) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (all || c == '@' || c == '/' || c == '%') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string kv_quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

void expect_no_password(const std::string& shown, const std::string& where) {
  EXPECT_EQ(shown.find(kPassword), std::string::npos) << where << shown;
  EXPECT_EQ(shown.find("Pw"), std::string::npos) << where << shown;
  EXPECT_EQ(shown.find("x9"), std::string::npos) << where << shown;
  EXPECT_EQ(shown.find(percent(kPassword, true)), std::string::npos)
      << where << shown;
}

}  // namespace

TEST(Redact, PasswordsFullOfQuotingCharactersNeverSurvive) {
  const std::vector<std::string> forms = {
      "host=h user=u password=" + kv_quoted(kPassword),
      "host=h user=u password = " + kv_quoted(kPassword) + " dbname=d",
      "postgresql://u:" + percent(kPassword, false) + "@h:5432/d",
      "postgresql://u:" + percent(kPassword, true) + "@h:5432/d",
      "postgres://u@h:5432/d?password=" + percent(kPassword, true),
  };
  for (const auto& conninfo : forms) {
    const auto shown = d::redact_conninfo(conninfo);
    expect_no_password(shown, conninfo + " -> ");
    EXPECT_NE(shown.find("***"), std::string::npos) << shown;
    EXPECT_NE(shown.find('h'), std::string::npos) << shown;
    // libpq's messages may quote the password, raw or percent-encoded.
    const auto message = d::redact_message(
        "failed for \"" + kPassword + "\" near \"" + percent(kPassword, true) +
            "\" and \"" + percent(kPassword, false) + "\"",
        conninfo);
    expect_no_password(message, conninfo + " -> ");
    EXPECT_NE(message.find("failed for"), std::string::npos) << message;
  }
  EXPECT_EQ(d::redact_conninfo("postgresql://alice:s3cr?t@host/db"),
            "postgresql://alice:***@host/db");
}

TEST(Redact, APasswordCutAtASpaceShowsNothingOfTheConninfo) {
  // libpq refuses both; what follows the space must not leak either.
  for (const std::string conninfo :
       {"host=h password=abc def", "host=h password=abc\\ def x"}) {
    const auto shown = d::redact_conninfo(conninfo);
    EXPECT_EQ(shown, "<unparsable conninfo>") << conninfo;
    const auto message = d::redact_message(
        "missing \"=\" after \"def\" in connection info string", conninfo);
    EXPECT_EQ(message.find("def"), std::string::npos) << message;
  }
  EXPECT_EQ(d::redact_conninfo("host=h password=abc\\ def"),
            "password=*** host=h");
}

// libpq and the COPY format carry a value's length as a 32-bit int; a longer
// value must be refused before anything is sent, not wrap to a negative
// length. The views below are never read: a small buffer with a huge size.
TEST(Params, ValuesOf2GiBOrMoreAreRejectedBeforeSending) {
  static const char buffer[8] = "abcdefg";  // no NUL to stop a scan
  const std::size_t huge = std::size_t{3} << 30;
  d::Param p;
  try {
    d::encode(p,
              db::BytesView(reinterpret_cast<const std::byte*>(buffer), huge));
    FAIL() << "a 3 GiB bytea was accepted";
  } catch (const db::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(huge)),
              std::string::npos)
        << e.what();
  }
  d::Param q;
  EXPECT_THROW(d::encode(q, std::string_view(buffer, huge)),
               db::InvalidArgument);
  // The largest length that fits is still accepted.
  d::Param r;
  d::encode(r, db::BytesView(reinterpret_cast<const std::byte*>(buffer),
                             std::size_t{0x7fffffff}));
  EXPECT_EQ(r.length(), 0x7fffffff);
}

TEST(CopyWriter, FieldsOf2GiBOrMoreAreRejected) {
  static const char buffer[8] = "abcdefg";  // no NUL to stop a scan
  db::CopyWriter copy;
  copy.row(1);
  EXPECT_THROW(
      copy.add(db::BytesView(reinterpret_cast<const std::byte*>(buffer),
                             std::size_t{1} << 31)),
      db::InvalidArgument);
  EXPECT_THROW(copy.add(std::string_view(buffer, std::size_t{1} << 31)),
               db::InvalidArgument);
}

// A user type that only has an ADL `encode` the library never calls: the
// Bindable concept must refuse it, as Session's (qualified) call does.
// Regression: the concept looked encode up unqualified, so it accepted such
// a type and the call then failed to compile.
namespace adl_only {
struct Token {};
[[maybe_unused]] void encode(soundhash::db::detail::Param& p, const Token&) {
  p.is_null = true;
}
}  // namespace adl_only

namespace traits_user {
struct Celsius {
  double degrees = 0;
};
struct Label {
  std::string text;
};
}  // namespace traits_user

template <>
struct soundhash::db::value_traits<traits_user::Celsius> {
  static double to_sql(const traits_user::Celsius& c) { return c.degrees; }
};
template <>
struct soundhash::db::value_traits<traits_user::Label> {
  // A temporary: the parameter must keep its own copy.
  static std::string to_sql(const traits_user::Label& l) {
    return "label:" + l.text;
  }
};

static_assert(!d::Bindable<adl_only::Token>);
static_assert(d::Bindable<traits_user::Celsius>);
static_assert(d::Bindable<std::optional<traits_user::Celsius>>);
static_assert(d::Bindable<std::vector<traits_user::Celsius>>);
static_assert(!d::Bindable<std::vector<std::vector<int>>>);
static_assert(d::Bindable<std::span<const std::byte>>);
static_assert(d::Bindable<std::chrono::seconds>);

TEST(Params, UserTypesThroughValueTraits) {
  EXPECT_EQ(text_of(traits_user::Celsius{21.5}), "21.5");
  EXPECT_EQ(text_of(traits_user::Label{"x"}), "label:x");
  EXPECT_EQ(text_of(std::optional<traits_user::Label>{}), "<null>");
  EXPECT_EQ(text_of(std::vector<traits_user::Label>{{"a"}, {"b\"c"}}),
            "{\"label:a\",\"label:b\\\"c\"}");
}

TEST(Params, Arrays) {
  EXPECT_EQ(text_of(std::vector<int>{1, -2}), "{\"1\",\"-2\"}");
  EXPECT_EQ(text_of(std::vector<std::optional<int>>{1, std::nullopt}),
            "{\"1\",NULL}");
  EXPECT_EQ(text_of(std::vector<db::Bytes>{{std::byte{0xab}}}),
            "{\"\\\\xab\"}");
  EXPECT_EQ(text_of(std::vector<bool>{}), "{}");
  d::Param p;
  d::encode(p, std::vector<std::int32_t>{1});
  EXPECT_EQ(p.type, d::kOidInt4Array);
}

TEST(Params, Durations) {
  using namespace std::chrono_literals;
  EXPECT_EQ(text_of(90min), "5400000000 microseconds");
  EXPECT_EQ(text_of(-1500us), "-1500 microseconds");
}
