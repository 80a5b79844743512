#include "soundhash/db/copy_writer.hpp"

#include <bit>
#include <chrono>
#include <limits>

#include "soundhash/db/detail/params.hpp"

namespace soundhash::db {

template <class U>
void CopyWriter::be(U v) {
  using Unsigned = std::make_unsigned_t<U>;
  auto u = static_cast<Unsigned>(v);
  char buf[sizeof(U)];
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    buf[sizeof(U) - 1 - i] = static_cast<char>(u & 0xff);
    u = static_cast<Unsigned>(u >> 8);
  }
  out_.append(buf, sizeof buf);
}

CopyWriter::CopyWriter() {
  static constexpr char kHeader[] = "PGCOPY\n\377\r\n\0";
  out_.append(kHeader, sizeof kHeader - 1);
  be<std::int32_t>(0);  // flags
  be<std::int32_t>(0);  // header extension length
}

void CopyWriter::row(std::int16_t fields) { be(fields); }

void CopyWriter::field(std::size_t length) {
  be<std::int32_t>(detail::checked_length(length));
}

void CopyWriter::add(std::nullopt_t) { be<std::int32_t>(-1); }

void CopyWriter::add(bool v) {
  field(1);
  out_.push_back(v ? '\1' : '\0');
}

void CopyWriter::add(std::int16_t v) {
  field(2);
  be(v);
}

void CopyWriter::add(std::int32_t v) {
  field(4);
  be(v);
}

void CopyWriter::add(std::int64_t v) {
  field(8);
  be(v);
}

void CopyWriter::add(float v) {
  field(4);
  be(std::bit_cast<std::int32_t>(v));
}

void CopyWriter::add(double v) {
  field(8);
  be(std::bit_cast<std::int64_t>(v));
}

void CopyWriter::add(std::string_view v) {
  detail::checked_length(v.size());  // a huge value is refused before reading
  detail::check_text(v);
  field(v.size());
  out_.append(v);
}

void CopyWriter::add(BytesView v) {
  field(v.size());
  out_.append(reinterpret_cast<const char*>(v.data()), v.size());
}

void CopyWriter::add(TimestampUs v) {
  field(8);
  // PostgreSQL counts microseconds from 2000-01-01; its infinities are the
  // extreme values.
  constexpr std::int64_t kPgEpoch = 946'684'800'000'000;
  if (v == TimestampUs::max()) {
    be(std::numeric_limits<std::int64_t>::max());
  } else if (v == TimestampUs::min()) {
    be(std::numeric_limits<std::int64_t>::min());
  } else {
    const std::int64_t us = v.time_since_epoch().count();
    if (us < std::numeric_limits<std::int64_t>::min() + kPgEpoch) {
      detail::throw_timestamp_out_of_range();
    }
    be(us - kPgEpoch);
  }
}

void CopyWriter::add(Timestamp v) {
  if (v == Timestamp::max()) return add(TimestampUs::max());
  if (v == Timestamp::min()) return add(TimestampUs::min());
  add(std::chrono::floor<std::chrono::microseconds>(v));
}

std::string_view CopyWriter::finish() {
  be<std::int16_t>(-1);
  return out_;
}

}  // namespace soundhash::db
