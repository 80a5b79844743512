#include "soundhash/db/result.hpp"

#include <libpq-fe.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <string>

#include "soundhash/db/detail/params.hpp"
#include "soundhash/db/errors.hpp"

namespace soundhash::db {
namespace {

// Type OIDs from pg_type.dat.
constexpr Oid kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20,
              kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26, kJson = 114,
              kXml = 142, kFloat4 = 700, kFloat8 = 701, kUnknown = 705,
              kBpchar = 1042, kVarchar = 1043, kTimestamp = 1114,
              kTimestamptz = 1184, kJsonb = 3802;

template <class T>
T read_be(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2)
      v = static_cast<T>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
    if constexpr (sizeof(T) == 4)
      v = static_cast<T>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
    if constexpr (sizeof(T) == 8)
      v = static_cast<T>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
  }
  return v;
}

}  // namespace

Result::Result(pg_result* res)
    : res_(res,
           [](const pg_result* r) { PQclear(const_cast<pg_result*>(r)); }) {}

std::size_t Result::size() const noexcept {
  return res_ ? static_cast<std::size_t>(PQntuples(res_.get())) : 0;
}

int Result::columns() const noexcept {
  return res_ ? PQnfields(res_.get()) : 0;
}

std::int64_t Result::affected_rows() const noexcept {
  if (!res_) return 0;
  const char* n = PQcmdTuples(const_cast<pg_result*>(res_.get()));
  return (n && *n) ? std::stoll(n) : static_cast<std::int64_t>(size());
}

Row Result::operator[](std::size_t row) const {
  if (row >= size()) {
    throw ProgrammingError("row " + std::to_string(row) + " out of range (" +
                           std::to_string(size()) + " rows)");
  }
  return Row(res_, static_cast<int>(row));
}

Row Result::one() const {
  if (size() != 1) {
    throw ProgrammingError("expected exactly one row, got " +
                           std::to_string(size()));
  }
  return Row(res_, 0);
}

std::optional<Row> Result::first() const {
  if (empty()) return std::nullopt;
  return Row(res_, 0);
}

int Row::size() const noexcept { return PQnfields(res_.get()); }

Field Row::operator[](int col) const {
  if (col < 0 || col >= PQnfields(res_.get())) {
    throw ProgrammingError("column " + std::to_string(col) + " out of range (" +
                           std::to_string(PQnfields(res_.get())) + " columns)");
  }
  return Field(res_, row_, col);
}

Field Row::operator[](std::string_view name) const {
  for (int c = 0, n = PQnfields(res_.get()); c < n; ++c) {
    if (name == PQfname(res_.get(), c)) return Field(res_, row_, c);
  }
  throw ProgrammingError("no column named \"" + std::string(name) +
                         "\" in the result");
}

bool Field::is_null() const noexcept {
  return PQgetisnull(res_, row_, col_) != 0;
}

std::string_view Field::name() const noexcept { return PQfname(res_, col_); }

namespace {

[[noreturn]] void mismatch(const pg_result* res, int col, const char* want) {
  throw ProgrammingError("column \"" + std::string(PQfname(res, col)) +
                         "\" (type oid " + std::to_string(PQftype(res, col)) +
                         ") cannot be read as " + want);
}

const char* checked(const pg_result* res, int row, int col, const char* want) {
  if (PQgetisnull(res, row, col)) {
    throw ProgrammingError("column \"" + std::string(PQfname(res, col)) +
                           "\" is NULL; read it as std::optional<" + want +
                           ">");
  }
  if (PQfformat(res, col) != 1) mismatch(res, col, want);
  return PQgetvalue(res, row, col);
}

}  // namespace

void Field::throw_out_of_range(std::int64_t v) const {
  throw DataError("value " + std::to_string(v) + " of column \"" +
                  std::string(name()) + "\" does not fit the requested type");
}

bool Field::to_bool() const {
  const char* p = checked(res_, row_, col_, "bool");
  if (PQftype(res_, col_) != kBool) mismatch(res_, col_, "bool");
  return *p != 0;
}

std::int64_t Field::to_i64() const {
  const char* p = checked(res_, row_, col_, "an integer");
  switch (PQftype(res_, col_)) {
    case kInt8:
      return read_be<std::int64_t>(p);
    case kInt4:
      return read_be<std::int32_t>(p);
    case kInt2:
      return read_be<std::int16_t>(p);
    case kOid:
      return read_be<std::uint32_t>(p);
    default:
      mismatch(res_, col_, "an integer");
  }
}

double Field::to_f64() const {
  const char* p = checked(res_, row_, col_, "a floating-point number");
  switch (PQftype(res_, col_)) {
    case kFloat8:
      return std::bit_cast<double>(read_be<std::uint64_t>(p));
    case kFloat4:
      return std::bit_cast<float>(read_be<std::uint32_t>(p));
    case kInt8:
    case kInt4:
    case kInt2:
      return static_cast<double>(to_i64());
    default:
      mismatch(res_, col_, "a floating-point number");
  }
}

std::string_view Field::to_text() const {
  const char* p = checked(res_, row_, col_, "text");
  const auto len = static_cast<std::size_t>(PQgetlength(res_, row_, col_));
  switch (PQftype(res_, col_)) {
    case kText:
    case kVarchar:
    case kBpchar:
    case kName:
    case kChar:
    case kJson:
    case kXml:
    case kUnknown:
      return {p, len};
    case kJsonb:  // binary jsonb: a version byte, then the text
      if (len == 0) mismatch(res_, col_, "text");
      return {p + 1, len - 1};
    default:
      mismatch(res_, col_, "text");
  }
}

Bytes Field::to_bytes() const {
  const char* p = checked(res_, row_, col_, "bytes");
  if (PQftype(res_, col_) != kBytea) mismatch(res_, col_, "bytes");
  const auto len = static_cast<std::size_t>(PQgetlength(res_, row_, col_));
  Bytes out(len);
  if (len) std::memcpy(out.data(), p, len);
  return out;
}

TimestampUs Field::to_timestamp_us() const {
  const char* p = checked(res_, row_, col_, "Timestamp");
  const Oid t = PQftype(res_, col_);
  if (t != kTimestamptz && t != kTimestamp) mismatch(res_, col_, "Timestamp");
  const auto us = read_be<std::int64_t>(p);  // microseconds since 2000-01-01
  if (us == std::numeric_limits<std::int64_t>::max()) return TimestampUs::max();
  if (us == std::numeric_limits<std::int64_t>::min()) return TimestampUs::min();
  // PostgreSQL's range ends in 294276 AD; counted from 1970 instead of 2000,
  // microseconds in 64 bits end in 294247.
  constexpr std::int64_t kPgEpoch = 946'684'800'000'000;
  if (us > std::numeric_limits<std::int64_t>::max() - kPgEpoch) {
    throw DataError("timestamp in column \"" + std::string(name()) +
                    "\" is after 294247 AD, beyond db::TimestampUs");
  }
  return TimestampUs(std::chrono::microseconds(us + kPgEpoch));
}

Timestamp Field::to_timestamp() const {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const TimestampUs us = to_timestamp_us();
  if (us == TimestampUs::max()) return Timestamp::max();
  if (us == TimestampUs::min()) return Timestamp::min();
  // Timestamp may be finer than microseconds and then reaches less far:
  // compare in microseconds (converting the limits down cannot overflow).
  constexpr auto kLatest =
      duration_cast<microseconds>(Timestamp::max().time_since_epoch());
  constexpr auto kEarliest =
      duration_cast<microseconds>(Timestamp::min().time_since_epoch());
  const auto since = us.time_since_epoch();
  if (since > kLatest || since < kEarliest) {
    throw DataError("timestamp " + detail::format_timestamp(us) +
                    " in column \"" + std::string(name()) +
                    "\" is outside db::Timestamp's range (about 1677-09-21 "
                    "to 2262-04-11); read it as db::TimestampUs");
  }
  return Timestamp(duration_cast<Timestamp::duration>(since));
}

}  // namespace soundhash::db
