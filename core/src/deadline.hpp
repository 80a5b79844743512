#pragma once
// Deadlines from timeouts that may mean "forever": milliseconds::max() added
// to a nanosecond clock would wrap into the past.

#include <chrono>

namespace soundhash::db::detail {

/// now + `timeout`, or the clock's last time point when that lies beyond it.
inline std::chrono::steady_clock::time_point deadline_after(
    std::chrono::milliseconds timeout) {
  using std::chrono::steady_clock;
  const auto now = steady_clock::now();
  // Compared in milliseconds: converting `timeout` to the clock's unit is
  // what overflows.
  if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(
                     steady_clock::time_point::max() - now)) {
    return steady_clock::time_point::max();
  }
  return now + timeout;
}

}  // namespace soundhash::db::detail
