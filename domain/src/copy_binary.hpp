#pragma once
// Builds a PostgreSQL binary COPY stream (COPY ... FROM STDIN (FORMAT
// binary)): no text escaping, no parsing on the server for numbers.

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "soundhash/db/detail/params.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db::detail {

class CopyBinary {
 public:
  CopyBinary() {
    static constexpr char kHeader[] = "PGCOPY\n\377\r\n\0";
    out_.append(kHeader, sizeof kHeader - 1);
    be<std::int32_t>(0);  // flags
    be<std::int32_t>(0);  // header extension length
  }

  void row(std::int16_t fields) { be(fields); }

  void i64(std::int64_t v) {
    field(8);
    be(v);
  }
  void i32(std::int32_t v) {
    field(4);
    be(v);
  }
  void f64(double v) {
    field(8);
    be(std::bit_cast<std::int64_t>(v));
  }
  void text(std::string_view v) {
    checked_length(v.size());  // a huge value is refused before reading it
    check_text(v);
    field(v.size());
    out_.append(v);
  }
  void bytes(BytesView v) {
    field(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size());
  }
  void null() { be<std::int32_t>(-1); }

  template <class T, class F>
  void optional(const std::optional<T>& v, F write) {
    if (v) {
      write(*v);
    } else {
      null();
    }
  }

  /// The finished stream (adds the trailer).
  std::string_view finish() {
    be<std::int16_t>(-1);
    return out_;
  }

  void reserve(std::size_t n) { out_.reserve(n); }

 private:
  void field(std::size_t len) { be<std::int32_t>(checked_length(len)); }

  template <class T>
  void be(T v) {
    using U = std::make_unsigned_t<T>;
    auto u = static_cast<U>(v);
    char buf[sizeof(T)];
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      buf[sizeof(T) - 1 - i] = static_cast<char>(u & 0xff);
      u = static_cast<U>(u >> 8);
    }
    out_.append(buf, sizeof buf);
  }

  std::string out_;
};

}  // namespace soundhash::db::detail
