#pragma once
// Turning C++ values into libpq parameters. Text values go in text format
// (the server infers the type from context); bytea goes in binary format so
// no escaping is needed. Nothing here allocates for integers or for
// std::string arguments, which are referenced in place.

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "soundhash/db/types.hpp"

namespace soundhash::db::detail {

inline constexpr unsigned kOidBytea = 17;
inline constexpr unsigned kOidInterval = 1186;
inline constexpr unsigned kOidBoolArray = 1000;
inline constexpr unsigned kOidByteaArray = 1001;
inline constexpr unsigned kOidInt2Array = 1005;
inline constexpr unsigned kOidInt4Array = 1007;
inline constexpr unsigned kOidTextArray = 1009;
inline constexpr unsigned kOidInt8Array = 1016;
inline constexpr unsigned kOidFloat4Array = 1021;
inline constexpr unsigned kOidFloat8Array = 1022;
inline constexpr unsigned kOidTimestamptzArray = 1185;
inline constexpr unsigned kOidIntervalArray = 1187;

/// One bound parameter. `ref` points at caller memory valid for the call
/// (NUL-terminated when text); `own` holds encoded values.
struct Param {
  std::string_view ref;
  std::string own;
  bool is_null = false;
  bool uses_own = false;
  bool binary = false;
  unsigned type = 0;  // 0: let the server infer it

  [[nodiscard]] const char* value() const noexcept {
    if (is_null) return nullptr;
    return uses_own ? own.c_str() : ref.data();
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return uses_own ? own.size() : ref.size();
  }
  /// The length for libpq; encode() has checked that it fits.
  [[nodiscard]] int length() const noexcept { return static_cast<int>(size()); }
};

/// `size` as the 32-bit length libpq and COPY carry; throws InvalidArgument
/// naming it if it does not fit (PostgreSQL keeps at most 1 GB per value
/// anyway), so a huge value is refused before anything is sent.
int checked_length(std::size_t size);

/// `t` as PostgreSQL reads and writes it, in UTC: "2026-11-27
/// 22:41:04.123456+00", "0044-03-15 00:00:00.000000+00 BC".
std::string format_timestamp(TimestampUs t);

/// Throws InvalidArgument if `text` holds a NUL byte: libpq would silently
/// cut the value there, so reject it before anything is sent.
void check_text(std::string_view text);

void encode(Param& p, std::nullptr_t);
void encode(Param& p, std::nullopt_t);
void encode(Param& p, bool v);
void encode(Param& p, double v);
void encode(Param& p, const std::string& v);
void encode(Param& p, std::string_view v);
void encode(Param& p, const char* v);
void encode(Param& p, BytesView v);
void encode(Param& p, const Bytes& v);
/// A timestamptz. max() and min() are sent as 'infinity' and '-infinity'.
void encode(Param& p, TimestampUs v);
/// A text[] parameter, for `col = ANY($n)`.
void encode(Param& p, std::span<const std::string> v);
void encode(Param& p, const std::vector<std::string>& v);
/// A text[] parameter whose elements may be NULL.
void encode(Param& p, std::span<const std::optional<std::string>> v);
void encode(Param& p, const std::vector<std::optional<std::string>>& v);
/// A bigint[] parameter.
void encode(Param& p, std::span<const std::int64_t> v);
void encode(Param& p, const std::vector<std::int64_t>& v);

template <std::integral T>
requires(!std::same_as<T, bool> && !std::same_as<T, char>) void encode(Param& p,
                                                                       T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  p.own.assign(buf, end);
  p.uses_own = true;
}

inline void encode(Param& p, float v) { encode(p, static_cast<double>(v)); }

[[noreturn]] void throw_timestamp_out_of_range();

/// Any other system-clock time point, e.g. Timestamp (nanoseconds): rounded
/// down to microseconds; one too far out for microseconds is refused, and
/// max() and min() are 'infinity' and '-infinity'.
template <class D>
requires(
    !std::same_as<D, std::chrono::microseconds> &&
    std::is_integral_v<typename D::rep>) void encode(Param& p,
                                                     std::chrono::sys_time<D>
                                                         v) {
  using namespace std::chrono;
  if (v == sys_time<D>::max()) return encode(p, TimestampUs::max());
  if (v == sys_time<D>::min()) return encode(p, TimestampUs::min());
  if constexpr (std::ratio_greater_v<typename D::period, std::micro>) {
    // Coarser than microseconds: converting could overflow, so compare in
    // D's own unit first.
    if (v.time_since_epoch() > duration_cast<D>(microseconds::max()) ||
        v.time_since_epoch() < duration_cast<D>(microseconds::min())) {
      throw_timestamp_out_of_range();
    }
    encode(p, TimestampUs(duration_cast<microseconds>(v.time_since_epoch())));
  } else {
    encode(p, floor<microseconds>(v));
  }
}

/// An interval of `v` (months and days stay zero: an exact length of time).
void encode_interval(Param& p, std::chrono::microseconds v);

/// Any std::chrono::duration, as an interval, rounded toward zero to
/// microseconds; one too long for microseconds is refused.
template <class Rep, class Period>
void encode(Param& p, std::chrono::duration<Rep, Period> v) {
  using namespace std::chrono;
  if constexpr (std::is_integral_v<Rep> &&
                std::ratio_greater_v<Period, std::micro>) {
    if (v > duration_cast<duration<Rep, Period>>(microseconds::max()) ||
        v < duration_cast<duration<Rep, Period>>(microseconds::min())) {
      throw_timestamp_out_of_range();
    }
  }
  encode_interval(p, duration_cast<microseconds>(v));
}

/// Makes `p` hold its own copy of what it references, for a value encoded
/// from a temporary.
void own_value(Param& p);

/// A type with value_traits<T>::to_sql: bound as what to_sql returns.
template <ToSql T>
void encode(Param& p, const T& v) {
  using R = decltype(value_traits<T>::to_sql(v));
  if constexpr (std::is_lvalue_reference_v<R>) {
    encode(p, value_traits<T>::to_sql(v));
  } else {
    const R tmp = value_traits<T>::to_sql(v);
    encode(p, tmp);
    own_value(p);  // tmp dies here
  }
}

template <class T>
requires requires(Param& p, const T& v) { encode(p, v); }
void encode(Param& p, const std::optional<T>& v) {
  if (v) {
    encode(p, *v);
  } else {
    p.is_null = true;
  }
}

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_sys_time_v = false;
template <class D>
inline constexpr bool is_sys_time_v<std::chrono::sys_time<D>> = true;
template <class T>
inline constexpr bool is_duration_v = false;
template <class R, class P>
inline constexpr bool is_duration_v<std::chrono::duration<R, P>> = true;

/// The OID of an array of T, or 0 to let the server infer it.
template <class T>
constexpr unsigned array_oid() {
  if constexpr (is_optional_v<T>) {
    return array_oid<typename T::value_type>();
  } else if constexpr (ToSql<T>) {
    return array_oid<std::remove_cvref_t<decltype(value_traits<T>::to_sql(
        std::declval<const T&>()))>>();
  } else if constexpr (std::same_as<T, bool>) {
    return kOidBoolArray;
  } else if constexpr (std::same_as<T, std::int16_t>) {
    return kOidInt2Array;
  } else if constexpr (std::same_as<T, std::int32_t>) {
    return kOidInt4Array;
  } else if constexpr (std::same_as<T, std::int64_t>) {
    return kOidInt8Array;
  } else if constexpr (std::same_as<T, float>) {
    return kOidFloat4Array;
  } else if constexpr (std::same_as<T, double>) {
    return kOidFloat8Array;
  } else if constexpr (std::same_as<T, std::string> ||
                       std::same_as<T, std::string_view>) {
    return kOidTextArray;
  } else if constexpr (std::same_as<T, Bytes>) {
    return kOidByteaArray;
  } else if constexpr (is_sys_time_v<T>) {
    return kOidTimestamptzArray;
  } else if constexpr (is_duration_v<T>) {
    return kOidIntervalArray;
  } else {
    return 0;
  }
}

/// Appends `element` (encoded) to an array literal: quoted and escaped, NULL
/// unquoted, bytea as hex.
void append_array_element(std::string& out, const Param& element);
/// Makes `p` the array literal `text` of type `oid`.
void set_array(Param& p, std::string text, unsigned oid);

template <class T>
inline constexpr bool is_nested_array = false;
template <class T, class A>
inline constexpr bool is_nested_array<std::vector<T, A>> =
    !std::same_as<T, std::byte>;
template <class T>
inline constexpr bool is_nested_array<std::span<T>> = true;

/// Element types of array parameters: one dimension only.
template <class T>
concept ArrayElement = !std::same_as<T, std::byte> && !std::same_as<T, char> &&
                       !is_nested_array<T> && requires(Param & p, const T& v) {
  encode(p, v);
};

/// A one-dimensional array of any bindable element type (elements may be
/// std::optional for NULLs), e.g. for `col = ANY($1)` or an array column.
template <class T, class Range>
void encode_array(Param& p, const Range& v) {
  std::string out;
  out.push_back('{');
  bool first = true;
  for (const T& x : v) {
    if (!first) out.push_back(',');
    first = false;
    Param e;
    encode(e, x);
    append_array_element(out, e);
  }
  out.push_back('}');
  set_array(p, std::move(out), array_oid<T>());
}

template <ArrayElement T>
void encode(Param& p, std::span<const T> v) {
  encode_array<T>(p, v);
}

template <ArrayElement T, class A>
void encode(Param& p, const std::vector<T, A>& v) {
  encode_array<T>(p, v);
}

/// True if `T` can be bound as a statement parameter. Checks the very call
/// Session makes (qualified, so no ADL), through value_traits for user types.
template <class T>
concept Bindable = requires(Param& p, const T& v) {
  detail::encode(p, v);
};

}  // namespace soundhash::db::detail
