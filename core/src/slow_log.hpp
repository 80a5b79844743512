#pragma once
// Slow statements: a WARN line per statement slower than the threshold, at
// most N a second per Database, so a slow database cannot flood the log.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace soundhash::db::detail {

class SlowLog {
 public:
  SlowLog(std::chrono::milliseconds threshold, int per_second) noexcept
      : threshold_(threshold), per_second_(per_second) {}

  /// True if statements need timing at all.
  [[nodiscard]] bool on() const noexcept { return threshold_.count() > 0; }

  /// Logs `sql` of call `op` if `took` is over the threshold and this
  /// second's allowance is not spent. Never throws.
  void note(std::string_view op, std::string_view sql,
            std::chrono::nanoseconds took) noexcept;

 private:
  std::chrono::milliseconds threshold_;
  int per_second_;
  std::atomic<std::int64_t> second_{-1};  // the second being counted
  std::atomic<int> logged_{0};            // lines in it so far
  std::atomic<std::int64_t> skipped_{0};  // over the allowance, not logged
};

}  // namespace soundhash::db::detail
