#include "soundhash/db/detail/params.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "soundhash/db/errors.hpp"

namespace soundhash::db::detail {

int checked_length(std::size_t size) {
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw InvalidArgument(
        "a value of " + std::to_string(size) +
        " bytes is too large to send: at most 2147483647 bytes fit a "
        "parameter or COPY field (and PostgreSQL stores at most 1 GB per "
        "value)");
  }
  return static_cast<int>(size);
}

void throw_timestamp_out_of_range() {
  throw InvalidArgument(
      "timestamp parameter is out of range: PostgreSQL's timestamps run from "
      "4713 BC to 294276 AD, db::TimestampUs's to 294247 AD");
}

void check_text(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    throw InvalidArgument(
        "text parameter contains a NUL byte, which PostgreSQL text cannot "
        "hold; send binary data as bytea");
  }
}

void encode(Param& p, std::nullptr_t) { p.is_null = true; }
void encode(Param& p, std::nullopt_t) { p.is_null = true; }

void encode(Param& p, bool v) { p.ref = v ? "t" : "f"; }

void encode(Param& p, double v) {
  if (std::isnan(v)) {
    p.ref = "NaN";
  } else if (std::isinf(v)) {
    p.ref = v > 0 ? "Infinity" : "-Infinity";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    p.own.assign(buf, end);
    p.uses_own = true;
  }
}

void encode(Param& p, const std::string& v) {
  checked_length(v.size());
  check_text(v);
  p.ref = std::string_view(v.c_str(), v.size());  // NUL-terminated in place
}

void encode(Param& p, std::string_view v) {
  checked_length(v.size());  // before reading it
  check_text(v);
  p.own.assign(v);
  p.uses_own = true;
}

void encode(Param& p, const char* v) {
  if (v == nullptr) {
    p.is_null = true;
  } else {
    p.ref = v;  // strlen stops at the first NUL, so none can hide inside
    checked_length(p.ref.size());
  }
}

void encode(Param& p, BytesView v) {
  checked_length(v.size());
  static const char empty = 0;
  p.ref = v.empty() ? std::string_view(&empty, 0)
                    : std::string_view(reinterpret_cast<const char*>(v.data()),
                                       v.size());
  p.binary = true;
  p.type = kOidBytea;
}

void encode(Param& p, const Bytes& v) { encode(p, BytesView(v)); }

std::string format_timestamp(TimestampUs t) {
  using namespace std::chrono;
  // Split into days and time of day without overflow near the limits.
  constexpr std::int64_t kDay = 86'400'000'000;
  const std::int64_t us = t.time_since_epoch().count();
  std::int64_t day = us / kDay;
  std::int64_t tod = us % kDay;
  if (tod < 0) {
    tod += kDay;
    --day;
  }
  // year_month_day covers only about +-32767 years, but the Gregorian
  // calendar repeats every 400 years (146097 days): convert the day within
  // its cycle and add the cycles' years back.
  constexpr std::int64_t kCycleDays = 146'097;
  std::int64_t cycles = day / kCycleDays;
  std::int64_t in_cycle = day % kCycleDays;
  if (in_cycle < 0) {
    in_cycle += kCycleDays;
    --cycles;
  }
  const year_month_day ymd{sys_days{days{static_cast<days::rep>(in_cycle)}}};
  long long year = static_cast<int>(ymd.year()) + 400 * cycles;
  const char* era = "";
  if (year <= 0) {  // PostgreSQL writes year 0 as 1 BC
    year = 1 - year;
    era = " BC";
  }
  constexpr std::int64_t kHour = 3'600'000'000, kMinute = 60'000'000,
                         kSecond = 1'000'000;
  char buf[64];
  const int n = std::snprintf(
      buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld.%06lld+00%s",
      year, static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<long long>(tod / kHour),
      static_cast<long long>(tod % kHour / kMinute),
      static_cast<long long>(tod % kMinute / kSecond),
      static_cast<long long>(tod % kSecond), era);
  return std::string(buf, static_cast<std::size_t>(n));
}

void encode(Param& p, TimestampUs v) {
  if (v == TimestampUs::max()) {
    p.ref = "infinity";
  } else if (v == TimestampUs::min()) {
    p.ref = "-infinity";
  } else {
    p.own = format_timestamp(v);
    p.uses_own = true;
  }
}

void encode_interval(Param& p, std::chrono::microseconds v) {
  char buf[48];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.count());
  p.own.assign(buf, end);
  p.own += " microseconds";
  p.uses_own = true;
  p.type = kOidInterval;
}

void own_value(Param& p) {
  if (p.is_null || p.uses_own) return;
  p.own.assign(p.ref);
  p.uses_own = true;
}

void append_array_element(std::string& out, const Param& e) {
  if (e.is_null) {
    out += "NULL";
    return;
  }
  const std::string_view v(e.value(), e.size());
  out.push_back('"');
  if (e.binary) {
    // bytea in hex, the backslash escaped for the array literal.
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\\\x";
    for (char c : v) {
      const auto b = static_cast<unsigned char>(c);
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  } else {
    for (char c : v) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void set_array(Param& p, std::string text, unsigned oid) {
  checked_length(text.size());
  p.own = std::move(text);
  p.uses_own = true;
  p.type = oid;
}

namespace {

// Array literal: every element double-quoted, with \ and " escaped; a
// missing element is an unquoted NULL.
template <class Range, class Get>
void encode_text_array(Param& p, const Range& v, Get get) {
  std::string& out = p.own;
  out.clear();
  out.push_back('{');
  bool first = true;
  for (const auto& e : v) {
    if (!first) out.push_back(',');
    first = false;
    const std::string* text = get(e);
    if (!text) {
      out += "NULL";
      continue;
    }
    check_text(*text);
    out.push_back('"');
    for (char c : *text) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  checked_length(out.size());
  p.uses_own = true;
  p.type = kOidTextArray;
}

}  // namespace

void encode(Param& p, std::span<const std::string> v) {
  encode_text_array(p, v, [](const std::string& e) { return &e; });
}

void encode(Param& p, std::span<const std::optional<std::string>> v) {
  encode_text_array(p, v, [](const std::optional<std::string>& e) {
    return e ? &*e : nullptr;
  });
}

void encode(Param& p, const std::vector<std::optional<std::string>>& v) {
  encode(p, std::span<const std::optional<std::string>>(v));
}

void encode(Param& p, const std::vector<std::string>& v) {
  encode(p, std::span<const std::string>(v));
}

void encode(Param& p, std::span<const std::int64_t> v) {
  std::string& out = p.own;
  out.clear();
  out.push_back('{');
  char buf[24];
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(',');
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v[i]);
    out.append(buf, end);
  }
  out.push_back('}');
  checked_length(out.size());
  p.uses_own = true;
  p.type = kOidInt8Array;
}

void encode(Param& p, const std::vector<std::int64_t>& v) {
  encode(p, std::span<const std::int64_t>(v));
}

}  // namespace soundhash::db::detail
