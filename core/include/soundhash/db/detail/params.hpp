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
inline constexpr unsigned kOidTextArray = 1009;
inline constexpr unsigned kOidInt8Array = 1016;

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

template <class T>
void encode(Param& p, const std::optional<T>& v) {
  if (v) {
    encode(p, *v);
  } else {
    p.is_null = true;
  }
}

/// True if `T` can be bound as a statement parameter.
template <class T>
concept Bindable = requires(Param& p, const T& v) {
  encode(p, v);
};

}  // namespace soundhash::db::detail
