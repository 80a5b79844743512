#pragma once
// Rows for `COPY ... FROM STDIN (FORMAT binary)`, the fastest way to load
// many rows: no text escaping, and the server parses no numbers.
//
//   db::CopyWriter copy;
//   for (const auto& p : points) {
//     copy.row(3);
//     copy.add(p.id);                  // int8 column
//     copy.add(p.label);               // text column
//     copy.add(p.weight);              // std::optional<double>: float8 or NULL
//   }
//   session.copy_in("COPY points (id, label, weight) FROM STDIN "
//                   "(FORMAT binary)", copy.finish());
//
// Binary COPY converts nothing: each value's C++ type must match its
// column's type exactly (std::int64_t for int8, std::int32_t for int4,
// double for float8, Timestamp for timestamptz...), or the server refuses
// the data with a DataError.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "soundhash/db/types.hpp"

namespace soundhash::db {

/// Builds a binary COPY stream in memory, one row after another.
class CopyWriter {
 public:
  CopyWriter();

  /// Reserves room for `bytes` bytes of stream.
  void reserve(std::size_t bytes) { out_.reserve(bytes); }
  /// Starts a row of `fields` values; add() each of them next.
  void row(std::int16_t fields);

  /// A NULL.
  void add(std::nullopt_t);
  /// bool.
  void add(bool v);
  /// int2.
  void add(std::int16_t v);
  /// int4.
  void add(std::int32_t v);
  /// int8.
  void add(std::int64_t v);
  /// float4.
  void add(float v);
  /// float8.
  void add(double v);
  /// text, varchar or any text-like column. Throws InvalidArgument for a
  /// NUL byte, which text cannot hold.
  void add(std::string_view v);
  /// text (as add(std::string_view)).
  void add(const std::string& v) { add(std::string_view(v)); }
  /// text (as add(std::string_view)).
  void add(const char* v) { add(std::string_view(v)); }
  /// bytea.
  void add(BytesView v);
  /// bytea.
  void add(const Bytes& v) { add(BytesView(v)); }
  /// timestamptz (or timestamp); max() and min() are 'infinity' and
  /// '-infinity'.
  void add(TimestampUs v);
  /// timestamptz (rounded down to microseconds).
  void add(Timestamp v);
  /// A value or NULL.
  template <class T>
  void add(const std::optional<T>& v) {
    if (v) {
      add(*v);
    } else {
      add(std::nullopt);
    }
  }
  /// A type with value_traits<T>::to_sql: added as what to_sql returns.
  template <ToSql T>
  void add(const T& v) {
    add(value_traits<T>::to_sql(v));
  }

  /// The finished stream, with its trailer; valid while this writer lives.
  /// Add nothing after it.
  [[nodiscard]] std::string_view finish();

 private:
  void field(std::size_t length);
  template <class U>
  void be(U v);

  std::string out_;
};

}  // namespace soundhash::db
