#pragma once
// Query results. Rows arrive in PostgreSQL's binary format, so reading a
// value never depends on the server's DateStyle, TimeZone or locale.
//
//   auto r = session.execute("SELECT id, title FROM videos WHERE id = $1", 7);
//   for (const auto& row : r) {
//     auto id = row[0].as<std::int64_t>();
//     auto title = row[1].as<std::optional<std::string>>();
//   }

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "soundhash/db/types.hpp"

struct pg_result;  // libpq's PGresult

namespace soundhash::db {

class Result;

namespace detail {
/// Shared ownership of a libpq result: Rows and Fields keep it alive, so
/// `auto row = session.execute(...).one();` is safe.
using ResultPtr = std::shared_ptr<const pg_result>;
}  // namespace detail

/// One value of a row. Convert it with `as<T>()`; reading NULL into a
/// non-optional type throws ProgrammingError.
class Field {
 public:
  /// The value at (`row`, `col`) of `res`; Row::operator[] makes these.
  Field(detail::ResultPtr res, int row, int col) noexcept
      : owner_(std::move(res)), res_(owner_.get()), row_(row), col_(col) {}

  /// True if the value is SQL NULL.
  [[nodiscard]] bool is_null() const noexcept;
  /// Column name as the server reported it.
  [[nodiscard]] std::string_view name() const noexcept;

  /// Converts to T: integers, double, float, bool, std::string,
  /// std::string_view (valid while the Result lives), Bytes, Timestamp,
  /// TimestampUs, or std::optional of any of those (NULL -> nullopt). A
  /// timestamp outside Timestamp's range (1677-2262) throws DataError;
  /// 'infinity' and '-infinity' read as max() and min().
  template <class T>
  [[nodiscard]] T as() const {
    if constexpr (is_optional<T>::value) {
      if (is_null()) return std::nullopt;
      return as<typename T::value_type>();
    } else if constexpr (std::is_same_v<T, bool>) {
      return to_bool();
    } else if constexpr (std::is_integral_v<T>) {
      return narrow<T>(to_i64());
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(to_f64());
    } else if constexpr (std::is_same_v<T, std::string_view>) {
      return to_text();
    } else if constexpr (std::is_same_v<T, std::string>) {
      return std::string(to_text());
    } else if constexpr (std::is_same_v<T, Bytes>) {
      return to_bytes();
    } else if constexpr (std::is_same_v<T, Timestamp>) {
      return to_timestamp();
    } else if constexpr (std::is_same_v<T, TimestampUs>) {
      return to_timestamp_us();
    } else {
      static_assert(sizeof(T) == 0, "Field::as<T>: unsupported type");
    }
  }

 private:
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  template <class T>
  T narrow(std::int64_t v) const {
    if (!std::in_range<T>(v)) throw_out_of_range(v);
    return static_cast<T>(v);
  }

  [[noreturn]] void throw_out_of_range(std::int64_t v) const;
  [[nodiscard]] bool to_bool() const;
  [[nodiscard]] std::int64_t to_i64() const;
  [[nodiscard]] double to_f64() const;
  [[nodiscard]] std::string_view to_text() const;
  [[nodiscard]] Bytes to_bytes() const;
  [[nodiscard]] Timestamp to_timestamp() const;
  [[nodiscard]] TimestampUs to_timestamp_us() const;

  detail::ResultPtr owner_;
  const pg_result* res_;
  int row_;
  int col_;
};

/// One row of a Result (keeps the result alive).
class Row {
 public:
  /// Row `row` (0-based) of `res`; Result's accessors make these.
  Row(detail::ResultPtr res, int row) noexcept
      : res_(std::move(res)), row_(row) {}

  /// The value in column `col` (0-based).
  [[nodiscard]] Field operator[](int col) const;
  /// The value in the column named `name`; throws ProgrammingError if none.
  [[nodiscard]] Field operator[](std::string_view name) const;
  /// Number of columns.
  [[nodiscard]] int size() const noexcept;

 private:
  detail::ResultPtr res_;
  int row_;
};

/// The outcome of one statement. Owns the libpq result; movable.
class Result {
 public:
  /// Forward iterator over the rows; dereferencing yields a Row by value.
  class iterator {
   public:
    /// A forward iterator.
    using iterator_category = std::forward_iterator_tag;
    /// Rows are produced by value.
    using value_type = Row;
    /// Distance between two rows.
    using difference_type = std::ptrdiff_t;
    /// No pointer type: rows are not stored.
    using pointer = void;
    /// Dereferencing returns a Row by value.
    using reference = Row;

    iterator() = default;
    /// At row `row` of `res`.
    iterator(detail::ResultPtr res, int row)
        : res_(std::move(res)), row_(row) {}
    /// The current row.
    Row operator*() const { return Row(res_, row_); }
    /// Advances to the next row.
    iterator& operator++() {
      ++row_;
      return *this;
    }
    /// Advances to the next row; returns the old position.
    iterator operator++(int) {
      auto old = *this;
      ++row_;
      return old;
    }
    /// Same row position (iterators of one Result).
    bool operator==(const iterator& o) const { return row_ == o.row_; }

   private:
    detail::ResultPtr res_;
    int row_ = 0;
  };

  Result() = default;
  /// Takes ownership of a libpq result.
  explicit Result(pg_result* res);

  /// Number of rows returned.
  [[nodiscard]] std::size_t size() const noexcept;
  /// True if no rows were returned.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Number of columns.
  [[nodiscard]] int columns() const noexcept;
  /// Rows affected by INSERT/UPDATE/DELETE (or returned by SELECT).
  [[nodiscard]] std::int64_t affected_rows() const noexcept;
  /// Row `row` (0-based); throws ProgrammingError if out of range.
  [[nodiscard]] Row operator[](std::size_t row) const;
  /// The only row; throws ProgrammingError unless there is exactly one.
  [[nodiscard]] Row one() const;
  /// The first row, if any.
  [[nodiscard]] std::optional<Row> first() const;

  /// The first row, for range-for.
  [[nodiscard]] iterator begin() const { return {res_, 0}; }
  /// Past the last row.
  [[nodiscard]] iterator end() const {
    return {res_, static_cast<int>(size())};
  }

 private:
  detail::ResultPtr res_;
};

}  // namespace soundhash::db
