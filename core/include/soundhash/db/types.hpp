#pragma once
// Value types that cross the library boundary.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace soundhash::db {

/// Binary data (PostgreSQL `bytea`), owned.
using Bytes = std::vector<std::byte>;
/// Binary data, borrowed; what parameters take.
using BytesView = std::span<const std::byte>;
/// A point in time (PostgreSQL `timestamptz`), microsecond precision on the
/// server. In nanoseconds it reaches only 1677-09-21 to 2262-04-11: reading
/// a timestamp outside throws DataError; use TimestampUs for those.
using Timestamp = std::chrono::system_clock::time_point;
/// A point in time in microseconds, PostgreSQL's own resolution: reaches
/// every timestamptz from 4713 BC to 294247 AD.
using TimestampUs = std::chrono::sys_time<std::chrono::microseconds>;

/// Views `s`'s characters as bytes, e.g. `as_bytes(std::string_view{"abc"})`.
inline BytesView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

class Value;

/// Extension point for binding and reading a type of your own. Specialise it
/// in namespace soundhash::db with either or both of:
///
///   template <>
///   struct soundhash::db::value_traits<Money> {
///     // Binding: return any bindable value (an integer, std::string...).
///     static std::int64_t to_sql(const Money& m) { return m.cents; }
///     // Reading: never called for NULL (read std::optional<Money> there).
///     static Money from_sql(const db::Value& v) {
///       return Money{v.as<std::int64_t>()};
///     }
///   };
///
/// Money then binds as a parameter and reads with as<Money>(), also inside
/// std::optional and std::vector (arrays).
template <class T>
struct value_traits {};

/// True if value_traits<T> says how to bind a T.
template <class T>
concept ToSql = requires(const T& v) {
  value_traits<T>::to_sql(v);
};

/// True if value_traits<T> says how to read a T.
template <class T>
concept FromSql = requires(const Value& v) {
  { value_traits<T>::from_sql(v) } -> std::convertible_to<T>;
};

/// Transaction isolation level of a Session.
enum class Isolation { read_committed, repeatable_read, serializable };

/// Options of one unit of work.
struct TxOptions {
  /// Isolation level the unit's transactions BEGIN with. Always named in the
  /// BEGIN, so the server's default_transaction_isolation does not apply.
  Isolation isolation = Isolation::read_committed;
  /// BEGIN ... READ ONLY: the server refuses writes (SQLSTATE 25006).
  bool read_only = false;
  /// false: COMMIT does not wait for the WAL to reach disk (SET LOCAL
  /// synchronous_commit = off). Faster commits; a server crash can lose the
  /// last fraction of a second of such commits (never corrupt anything).
  /// For work that may be lost and redone, e.g. queue workers' claims and
  /// completions: an at-least-once queue re-runs such a job anyway.
  bool synchronous_commit = true;
};

}  // namespace soundhash::db
