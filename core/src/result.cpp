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
              kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTimestamp = 1114,
              kTimestamptz = 1184, kInterval = 1186, kJsonb = 3802;

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
    throw ResultError("row " + std::to_string(row) + " out of range (" +
                      std::to_string(size()) + " rows)");
  }
  return Row(res_, static_cast<int>(row));
}

Row Result::one() const {
  if (size() != 1) {
    throw UnexpectedRowCount("expected exactly one row, got " +
                             std::to_string(size()));
  }
  return Row(res_, 0);
}

std::optional<Row> Result::first() const {
  if (empty()) return std::nullopt;
  return Row(res_, 0);
}

void Result::check_one_column() const {
  if (columns() != 1) {
    throw ResultError("expected exactly one column, got " +
                      std::to_string(columns()));
  }
}

Field Result::single() const {
  check_one_column();
  return one()[0];
}

int Row::size() const noexcept { return PQnfields(res_.get()); }

void Row::check_width(int first, std::size_t n) const {
  const int cols = PQnfields(res_.get());
  if (first < 0 || first > cols || static_cast<std::size_t>(cols - first) < n) {
    throw ResultError("reading " + std::to_string(n) + " columns from column " +
                      std::to_string(first) + ", but the row has " +
                      std::to_string(cols));
  }
}

Field Row::operator[](int col) const {
  if (col < 0 || col >= PQnfields(res_.get())) {
    throw ResultError("column " + std::to_string(col) + " out of range (" +
                      std::to_string(PQnfields(res_.get())) + " columns)");
  }
  return Field(res_, row_, col);
}

Field Row::operator[](std::string_view name) const {
  for (int c = 0, n = PQnfields(res_.get()); c < n; ++c) {
    if (name == PQfname(res_.get(), c)) return Field(res_, row_, c);
  }
  throw ResultError("no column named \"" + std::string(name) +
                    "\" in the result");
}

bool Field::is_null() const noexcept {
  return PQgetisnull(res_, row_, col_) != 0;
}

std::string_view Field::name() const noexcept { return PQfname(res_, col_); }

Value Field::value() const noexcept {
  return Value(PQftype(res_, col_), PQgetvalue(res_, row_, col_),
               static_cast<std::size_t>(PQgetlength(res_, row_, col_)),
               PQgetisnull(res_, row_, col_) != 0, PQfname(res_, col_),
               PQfformat(res_, col_) == 1);
}

namespace {

[[noreturn]] void mismatch(const Value& v, const char* want) {
  throw ConversionError("column \"" + std::string(v.name()) + "\" (type oid " +
                        std::to_string(v.type()) + ") cannot be read as " +
                        want);
}

}  // namespace

void Value::throw_null(const char* want) const {
  throw UnexpectedNull("column \"" + std::string(name_) +
                       "\" is NULL; read it as std::optional<" + want + ">");
}

const char* Value::checked(const char* want) const {
  if (null_) throw_null(want);
  if (!binary_) mismatch(*this, want);
  return data_;
}

void Value::throw_out_of_range(std::int64_t v) const {
  throw ConversionError("value " + std::to_string(v) + " of column \"" +
                        std::string(name_) +
                        "\" does not fit the requested type");
}

bool Value::to_bool() const {
  const char* p = checked("bool");
  if (type_ != kBool || size_ != 1) mismatch(*this, "bool");
  return *p != 0;
}

std::int64_t Value::to_i64() const {
  const char* p = checked("an integer");
  switch (type_) {
    case kInt8:
      if (size_ == 8) return read_be<std::int64_t>(p);
      break;
    case kInt4:
      if (size_ == 4) return read_be<std::int32_t>(p);
      break;
    case kInt2:
      if (size_ == 2) return read_be<std::int16_t>(p);
      break;
    case kOid:
      if (size_ == 4) return read_be<std::uint32_t>(p);
      break;
    default:
      break;
  }
  mismatch(*this, "an integer");
}

double Value::to_f64() const {
  const char* p = checked("a floating-point number");
  switch (type_) {
    case kFloat8:
      if (size_ == 8) return std::bit_cast<double>(read_be<std::uint64_t>(p));
      break;
    case kFloat4:
      if (size_ == 4) return std::bit_cast<float>(read_be<std::uint32_t>(p));
      break;
    case kInt8:
    case kInt4:
    case kInt2:
      return static_cast<double>(to_i64());
    default:
      break;
  }
  mismatch(*this, "a floating-point number");
}

std::string_view Value::to_text() const {
  const char* p = checked("text");
  switch (type_) {
    case kText:
    case kVarchar:
    case kBpchar:
    case kName:
    case kChar:
    case kJson:
    case kXml:
    case kUnknown:
      return {p, size_};
    case kJsonb:  // binary jsonb: a version byte, then the text
      if (size_ == 0) mismatch(*this, "text");
      return {p + 1, size_ - 1};
    default:
      mismatch(*this, "text");
  }
}

Bytes Value::to_bytes() const {
  const char* p = checked("bytes");
  if (type_ != kBytea) mismatch(*this, "bytes");
  Bytes out(size_);
  if (size_) std::memcpy(out.data(), p, size_);
  return out;
}

TimestampUs Value::to_timestamp_us() const {
  const char* p = checked("Timestamp");
  if ((type_ != kTimestamptz && type_ != kTimestamp) || size_ != 8) {
    mismatch(*this, "Timestamp");
  }
  const auto us = read_be<std::int64_t>(p);  // microseconds since 2000-01-01
  if (us == std::numeric_limits<std::int64_t>::max()) return TimestampUs::max();
  if (us == std::numeric_limits<std::int64_t>::min()) return TimestampUs::min();
  // PostgreSQL's range ends in 294276 AD; counted from 1970 instead of 2000,
  // microseconds in 64 bits end in 294247.
  constexpr std::int64_t kPgEpoch = 946'684'800'000'000;
  if (us > std::numeric_limits<std::int64_t>::max() - kPgEpoch) {
    throw ConversionError("timestamp in column \"" + std::string(name_) +
                          "\" is after 294247 AD, beyond db::TimestampUs");
  }
  return TimestampUs(std::chrono::microseconds(us + kPgEpoch));
}

Timestamp Value::to_timestamp() const {
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
    throw ConversionError("timestamp " + detail::format_timestamp(us) +
                          " in column \"" + std::string(name_) +
                          "\" is outside db::Timestamp's range (about "
                          "1677-09-21 to 2262-04-11); read it as "
                          "db::TimestampUs");
  }
  return Timestamp(duration_cast<Timestamp::duration>(since));
}

std::chrono::sys_days Value::to_date() const {
  const char* p = checked("a date");
  if (type_ != kDate || size_ != 4) mismatch(*this, "a date");
  const auto d = read_be<std::int32_t>(p);  // days since 2000-01-01
  if (d == std::numeric_limits<std::int32_t>::max() ||
      d == std::numeric_limits<std::int32_t>::min()) {
    throw ConversionError("date in column \"" + std::string(name_) +
                          "\" is infinite; std::chrono::sys_days has no "
                          "infinity");
  }
  constexpr std::int64_t kPgEpochDays = 10'957;  // 1970-01-01 to 2000-01-01
  return std::chrono::sys_days(std::chrono::days(d + kPgEpochDays));
}

std::chrono::microseconds Value::to_interval_us() const {
  const char* p = checked("a duration");
  if (type_ != kInterval || size_ != 16) mismatch(*this, "a duration");
  const auto us = read_be<std::int64_t>(p);
  const auto days = read_be<std::int32_t>(p + 8);
  const auto months = read_be<std::int32_t>(p + 12);
  // A month has no fixed length; a day is taken as 24 hours, as
  // EXTRACT(epoch FROM interval) does.
  if (months != 0) {
    throw ConversionError("interval in column \"" + std::string(name_) +
                          "\" has months, which have no fixed length; read "
                          "it as text or EXTRACT(epoch FROM ...)");
  }
  constexpr std::int64_t kDayUs = 86'400'000'000;
  std::int64_t total;
  if (__builtin_mul_overflow(std::int64_t{days}, kDayUs, &total) ||
      __builtin_add_overflow(total, us, &total)) {
    throw ConversionError("interval in column \"" + std::string(name_) +
                          "\" does not fit std::chrono::microseconds");
  }
  return std::chrono::microseconds(total);
}

Value::ArrayWalk Value::array_begin() const {
  const char* p = checked("an array");
  // ndim, has-nulls flag, element type; then (size, lower bound) per
  // dimension; then each element as length (-1: NULL) and bytes.
  if (size_ < 12) mismatch(*this, "an array");
  const auto ndim = read_be<std::int32_t>(p);
  ArrayWalk w;
  w.element_type = read_be<std::uint32_t>(p + 8);
  if (ndim == 0) return w;
  if (ndim != 1 || size_ < 20) mismatch(*this, "a one-dimensional array");
  const auto n = read_be<std::int32_t>(p + 12);
  if (n < 0) mismatch(*this, "an array");
  w.left = static_cast<std::size_t>(n);
  w.offset = 20;
  return w;
}

Value Value::array_next(ArrayWalk& w) const {
  if (w.offset + 4 > size_) mismatch(*this, "an array");
  const auto len = read_be<std::int32_t>(data_ + w.offset);
  w.offset += 4;
  --w.left;
  if (len < 0) return Value(w.element_type, nullptr, 0, true, name_);
  const auto n = static_cast<std::size_t>(len);
  if (n > size_ - w.offset) mismatch(*this, "an array");
  Value e(w.element_type, data_ + w.offset, n, false, name_);
  w.offset += n;
  return e;
}

}  // namespace soundhash::db
