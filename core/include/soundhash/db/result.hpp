#pragma once
// Query results. Rows arrive in PostgreSQL's binary format, so reading a
// value never depends on the server's DateStyle, TimeZone or locale.
//
//   auto r = session.execute("SELECT id, title FROM videos WHERE id = $1", 7);
//   for (const auto& row : r) {
//     auto id = row[0].as<std::int64_t>();
//     auto title = row[1].as<std::optional<std::string>>();
//   }
//   auto n = session.execute("SELECT count(*) FROM videos").as<std::int64_t>();
//   auto [id, title] = row.as<std::tuple<std::int64_t, std::string>>();
//
// Reading a type of your own: specialise db::value_traits (types.hpp). A
// struct read from whole rows: specialise db::row_traits (below).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "soundhash/db/types.hpp"

struct pg_result;  // libpq's PGresult

namespace soundhash::db {

class Result;

namespace detail {
class Connection;  // makes Results

/// Shared ownership of a libpq result: Rows and Fields keep it alive, so
/// `auto row = session.execute(...).one();` is safe.
using ResultPtr = std::shared_ptr<const pg_result>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
}  // namespace detail

/// One value in PostgreSQL's binary format, borrowed from a Result: a field
/// of a row or an element of an array. What value_traits<T>::from_sql reads.
class Value {
 public:
  /// `size` bytes at `data` of the type with OID `type`; `name` names the
  /// column in error messages. `binary` is false for text-format results.
  Value(unsigned type, const char* data, std::size_t size, bool is_null,
        std::string_view name, bool binary = true) noexcept
      : type_(type),
        data_(data),
        size_(size),
        null_(is_null),
        binary_(binary),
        name_(name) {}

  /// True if the value is SQL NULL.
  [[nodiscard]] bool is_null() const noexcept { return null_; }
  /// The PostgreSQL type OID of the value (pg_type.oid), e.g. 20 for int8.
  [[nodiscard]] unsigned type() const noexcept { return type_; }
  /// The value's bytes in PostgreSQL's binary format (empty for NULL).
  [[nodiscard]] BytesView bytes() const noexcept {
    return {reinterpret_cast<const std::byte*>(data_), null_ ? 0 : size_};
  }
  /// The column's name, for messages.
  [[nodiscard]] std::string_view name() const noexcept { return name_; }

  /// Converts to T: integers, double, float, bool, std::string,
  /// std::string_view (valid while the Result lives), Bytes, Timestamp,
  /// TimestampUs, std::chrono::sys_days (date), std::chrono durations
  /// (interval without months), std::vector<T> (one-dimensional arrays),
  /// std::optional<T> (NULL -> nullopt), or any T with
  /// value_traits<T>::from_sql. Reading NULL into a non-optional throws
  /// UnexpectedNull; a type that does not fit throws ConversionError.
  template <class T>
  [[nodiscard]] T as() const {
    if constexpr (detail::is_optional<T>::value) {
      if (null_) return std::nullopt;
      return as<typename T::value_type>();
    } else if constexpr (FromSql<T>) {
      if (null_) throw_null("a user type");
      return value_traits<T>::from_sql(*this);
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
    } else if constexpr (std::is_same_v<T, std::chrono::sys_days>) {
      return to_date();
    } else if constexpr (detail::is_duration<T>::value) {
      return to_duration<T>();
    } else if constexpr (detail::is_vector<T>::value) {
      T out;
      read_array([&](const Value& e) {
        out.push_back(e.as<typename T::value_type>());
      });
      return out;
    } else {
      static_assert(sizeof(T) == 0,
                    "Value::as<T>: unsupported type; specialise "
                    "db::value_traits<T> with a from_sql");
    }
  }

 private:
  template <class T>
  T narrow(std::int64_t v) const {
    if (!std::in_range<T>(v)) throw_out_of_range(v);
    return static_cast<T>(v);
  }

  template <class T>
  T to_duration() const {
    const std::chrono::microseconds us = to_interval_us();
    using Rep = typename T::rep;
    if constexpr (std::is_integral_v<Rep>) {
      // Round toward zero, refusing what does not fit T's rep.
      const auto t = std::chrono::duration_cast<
          std::chrono::duration<std::int64_t, typename T::period>>(us);
      return T(narrow<Rep>(t.count()));
    } else {
      return std::chrono::duration_cast<T>(us);
    }
  }

  // Where read_array is in an array: elements left, the next one's offset,
  // their type.
  struct ArrayWalk {
    std::size_t left = 0;
    std::size_t offset = 0;
    unsigned element_type = 0;
  };

  /// Calls `each(element)` for each element of a one-dimensional array.
  template <class F>
  void read_array(F&& each) const {
    ArrayWalk w = array_begin();
    while (w.left > 0) each(array_next(w));
  }

  [[noreturn]] void throw_out_of_range(std::int64_t v) const;
  [[noreturn]] void throw_null(const char* want) const;
  [[nodiscard]] bool to_bool() const;
  [[nodiscard]] std::int64_t to_i64() const;
  [[nodiscard]] double to_f64() const;
  [[nodiscard]] std::string_view to_text() const;
  [[nodiscard]] Bytes to_bytes() const;
  [[nodiscard]] Timestamp to_timestamp() const;
  [[nodiscard]] TimestampUs to_timestamp_us() const;
  [[nodiscard]] std::chrono::sys_days to_date() const;
  [[nodiscard]] std::chrono::microseconds to_interval_us() const;
  [[nodiscard]] ArrayWalk array_begin() const;
  [[nodiscard]] Value array_next(ArrayWalk& w) const;
  const char* checked(const char* want) const;

  unsigned type_;
  const char* data_;
  std::size_t size_;
  bool null_;
  bool binary_;
  std::string_view name_;
};

/// One value of a row. Convert it with `as<T>()` (see Value::as).
class Field {
 public:
  /// True if the value is SQL NULL.
  [[nodiscard]] bool is_null() const noexcept;
  /// Column name as the server reported it.
  [[nodiscard]] std::string_view name() const noexcept;
  /// The value, borrowed (valid while the Result lives).
  [[nodiscard]] Value value() const noexcept;

  /// Converts to T (see Value::as). A timestamp outside Timestamp's range
  /// (1677-2262) throws ConversionError; 'infinity' and '-infinity' read as
  /// max() and min().
  template <class T>
  [[nodiscard]] T as() const {
    return value().as<T>();
  }

 private:
  friend class Row;
  Field(detail::ResultPtr res, int row, int col) noexcept
      : owner_(std::move(res)), res_(owner_.get()), row_(row), col_(col) {}

  detail::ResultPtr owner_;
  const pg_result* res_;
  int row_;
  int col_;
};

/// One column of a row_traits list: the column's name and the member it
/// fills.
template <class Struct, class Member>
struct Column {
  /// The column's name in the table.
  std::string_view name;
  /// The member it is read into.
  Member Struct::*member;
};

/// `{"name", &Struct::member}` as a Column (deduces the types).
template <class Struct, class Member>
constexpr Column<Struct, Member> column(std::string_view name,
                                        Member Struct::*member) noexcept {
  return {name, member};
}

/// Extension point for reading whole rows into a struct with Row::as<T>().
/// Specialise it with `static constexpr auto columns = std::tuple{
/// db::column("id", &T::id), ...};` in the order the statements select
/// them: reading is by position, the names serve checks and SQL.
template <class T>
struct row_traits {};

/// True if row_traits<T> lists T's columns.
template <class T>
concept RowType = requires {
  row_traits<T>::columns;
};

/// One row of a Result (keeps the result alive).
class Row {
 public:
  /// The value in column `col` (0-based).
  [[nodiscard]] Field operator[](int col) const;
  /// The value in the column named `name`; throws ResultError if none.
  [[nodiscard]] Field operator[](std::string_view name) const;
  /// Number of columns.
  [[nodiscard]] int size() const noexcept;

  /// The row from column `first` on as T: a std::tuple (one column per
  /// element, by position), or a struct with row_traits (its columns, by
  /// position). Throws ResultError if the row has too few columns.
  template <class T>
  requires(detail::is_tuple<T>::value || RowType<T>) [[nodiscard]] T
      as(int first = 0) const {
    if constexpr (detail::is_tuple<T>::value) {
      check_width(first, std::tuple_size_v<T>);
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return T{field(first + static_cast<int>(I))
                     .template as<std::tuple_element_t<I, T>>()...};
      }
      (std::make_index_sequence<std::tuple_size_v<T>>{});
    } else {
      constexpr auto& cols = row_traits<T>::columns;
      constexpr std::size_t n = std::tuple_size_v<
          std::remove_cvref_t<decltype(row_traits<T>::columns)>>;
      check_width(first, n);
      T out{};
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (read_into(out, std::get<I>(cols), first + static_cast<int>(I)), ...);
      }
      (std::make_index_sequence<n>{});
      return out;
    }
  }

 private:
  friend class Result;
  Row(detail::ResultPtr res, int row) noexcept
      : res_(std::move(res)), row_(row) {}
  template <class T, class S, class M>
  void read_into(T& out, const Column<S, M>& c, int col) const {
    out.*(c.member) = field(col).template as<M>();
  }
  // Unchecked: as() checked the width once.
  [[nodiscard]] Field field(int col) const noexcept {
    return Field(res_, row_, col);
  }
  void check_width(int first, std::size_t n) const;

  detail::ResultPtr res_;
  int row_;
};

/// The names of T's columns in row_traits order, e.g. to check them against
/// a table or to write a SELECT list.
template <RowType T>
std::vector<std::string_view> column_names() {
  std::vector<std::string_view> out;
  std::apply([&](const auto&... c) { (out.push_back(c.name), ...); },
             row_traits<T>::columns);
  return out;
}

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
    friend class Result;
    iterator(detail::ResultPtr res, int row)
        : res_(std::move(res)), row_(row) {}

    detail::ResultPtr res_;
    int row_ = 0;
  };

  /// An empty result (no rows).
  Result() = default;

  /// Number of rows returned.
  [[nodiscard]] std::size_t size() const noexcept;
  /// True if no rows were returned.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Number of columns.
  [[nodiscard]] int columns() const noexcept;
  /// Rows affected by INSERT/UPDATE/DELETE (or returned by SELECT).
  [[nodiscard]] std::int64_t affected_rows() const noexcept;
  /// Row `row` (0-based); throws ResultError if out of range.
  [[nodiscard]] Row operator[](std::size_t row) const;
  /// The only row; throws UnexpectedRowCount unless there is exactly one.
  [[nodiscard]] Row one() const;
  /// The first row, if any.
  [[nodiscard]] std::optional<Row> first() const;

  /// The one value of a one-row, one-column result as T (NULL only into a
  /// std::optional); throws UnexpectedRowCount or ResultError otherwise.
  template <class T>
  [[nodiscard]] T as() const {
    return single().as<T>();
  }
  /// The one value of a result of at most one row and exactly one column;
  /// nullopt if there is no row or the value is NULL.
  template <class T>
  [[nodiscard]] std::optional<T> optional() const {
    if (empty()) {
      check_one_column();
      return std::nullopt;
    }
    return single().as<std::optional<T>>();
  }
  /// Every row as T (a std::tuple or a struct with row_traits), from
  /// column `first` on.
  template <class T>
  [[nodiscard]] std::vector<T> as_vector(int first = 0) const {
    std::vector<T> out;
    out.reserve(size());
    for (const Row& row : *this) out.push_back(row.as<T>(first));
    return out;
  }

  /// The first row, for range-for.
  [[nodiscard]] iterator begin() const { return {res_, 0}; }
  /// Past the last row.
  [[nodiscard]] iterator end() const {
    return {res_, static_cast<int>(size())};
  }

 private:
  friend class detail::Connection;
  // Takes ownership of a libpq result.
  explicit Result(pg_result* res);
  [[nodiscard]] Field single() const;
  void check_one_column() const;

  detail::ResultPtr res_;
};

}  // namespace soundhash::db
