#include "slow_log.hpp"

#include <spdlog/logger.h>

#include "soundhash/db/log.hpp"

namespace soundhash::db::detail {
namespace {

// Long statements (a generated batch) are cut: the line is for finding the
// statement, not for replaying it.
constexpr std::size_t kMaxSql = 2000;

}  // namespace

void SlowLog::note(std::string_view op, std::string_view sql,
                   std::chrono::nanoseconds took) noexcept {
  if (took <= threshold_) return;
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  using std::chrono::steady_clock;
  const std::int64_t now =
      duration_cast<seconds>(steady_clock::now().time_since_epoch()).count();
  std::int64_t seen = second_.load(std::memory_order_relaxed);
  if (seen != now &&
      second_.compare_exchange_strong(seen, now, std::memory_order_relaxed)) {
    logged_.store(0, std::memory_order_relaxed);
  }
  if (logged_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::int64_t skipped = skipped_.exchange(0, std::memory_order_relaxed);
  try {
    const bool cut = sql.size() > kMaxSql;
    logger().warn("Slow statement in {}: {:.3f}s (threshold {}ms){}: {}{}", op,
                  std::chrono::duration<double>(took).count(),
                  threshold_.count(),
                  skipped > 0 ? fmt::format(" ({} more not logged)", skipped)
                              : std::string(),
                  sql.substr(0, kMaxSql), cut ? " ..." : "");
  } catch (...) {
    // A log line is not worth failing the statement for.
  }
}

}  // namespace soundhash::db::detail
