#include "soundhash/db/job_listener.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <set>
#include <string_view>

#include "soundhash/db/database.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/listener.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {
namespace {

using Clock = std::chrono::steady_clock;

// The channels the migrations' triggers notify: jobs runnable now, with the
// job type as payload, and jobs whose run_at is ahead, with payload
// "<milliseconds until run_at> <job type>" (the type last: it may hold any
// character).
constexpr std::string_view kChannel = "soundhash_jobs";
constexpr std::string_view kDelayedChannel = "soundhash_jobs_delayed";

// At most this many announced run_at times are remembered, none further
// ahead than a day; a job announced beyond them is found by a poll instead.
constexpr std::size_t kMaxDue = 4096;
constexpr std::int64_t kMaxAheadMs = 24LL * 3600 * 1000;

// now + `timeout`, saturating: milliseconds::max() ("forever") added to a
// nanosecond clock would wrap into the past.
Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  const auto now = Clock::now();
  if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(
                     Clock::time_point::max() - now)) {
    return Clock::time_point::max();
  }
  return now + timeout;
}

}  // namespace

struct JobListener::Impl {
  Listener listener;
  std::vector<std::string> types;

  // When announced jobs of our types come due, earliest first.
  std::multiset<Clock::time_point> due;

  bool wanted(std::string_view type) const {
    return types.empty() ||
           std::find(types.begin(), types.end(), type) != types.end();
  }

  // True if a notification says jobs of our types are runnable now; jobs
  // announced for later are remembered until they come due. The wait in a
  // delayed payload starts when the trigger ran, before the commit that
  // delivered it, so counting it from receipt is never early.
  bool take(const std::vector<Notification>& notes) {
    bool runnable = false;
    const auto received = Clock::now();
    for (const auto& n : notes) {
      if (n.channel == kChannel) {
        runnable = runnable || wanted(n.payload);
        continue;
      }
      if (n.channel != kDelayedChannel) continue;
      const auto space = n.payload.find(' ');
      if (space == std::string::npos) continue;
      std::int64_t ms = 0;
      const char* end = n.payload.data() + space;
      const auto [at, ec] = std::from_chars(n.payload.data(), end, ms);
      if (ec != std::errc{} || at != end || ms < 0 || ms > kMaxAheadMs) {
        continue;
      }
      if (!wanted(std::string_view(n.payload).substr(space + 1))) continue;
      remember(received + std::chrono::milliseconds{ms});
    }
    return runnable;
  }

  void remember(Clock::time_point at) {
    if (due.size() >= kMaxDue) {
      const auto last = std::prev(due.end());
      if (at >= *last) return;
      due.erase(last);
    }
    due.insert(at);
  }

  // True, forgetting them, if announced jobs have come due.
  bool came_due() {
    const auto end = due.upper_bound(Clock::now());
    if (end == due.begin()) return false;
    due.erase(due.begin(), end);
    return true;
  }

  // `deadline`, or sooner when an announced job comes due.
  Clock::time_point wake_at(Clock::time_point deadline) const {
    return due.empty() ? deadline : std::min(deadline, *due.begin());
  }
};

JobListener::JobListener(Database& db, std::vector<std::string> job_types)
    : impl_(new Impl{Listener(db), std::move(job_types), {}}) {
  impl_->listener.listen(std::string(kChannel));
  impl_->listener.listen(std::string(kDelayedChannel));
  try {
    impl_->listener.connect();
  } catch (const Error& e) {
    logger().warn("Job listener could not connect ({}); polling until it can",
                  e.what());
  }
}

JobListener::~JobListener() = default;

bool JobListener::connected() const noexcept {
  return impl_->listener.connected();
}

void JobListener::interrupt() noexcept { impl_->listener.wake(); }

bool JobListener::wait_for_jobs(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) {
    throw InvalidArgument("wait_for_jobs: timeout must be >= 0");
  }
  Impl& m = *impl_;
  const auto deadline = deadline_after(timeout);  // max(): forever
  for (;;) {
    const auto left = std::max(std::chrono::ceil<std::chrono::milliseconds>(
                                   m.wake_at(deadline) - Clock::now()),
                               std::chrono::milliseconds{0});
    auto w = m.listener.wait(left);
    switch (w.event) {
      case Listener::Event::woken:
        return false;
      case Listener::Event::connected:
        logger().info("Job listener reconnected; listening again");
        return true;  // jobs may have come while it was away
      case Listener::Event::lost:
        logger().warn(
            "Job listener lost its connection ({}); polling until it is back",
            w.error);
        return true;
      case Listener::Event::timed_out:
        if (!w.error.empty()) {
          logger().debug("Job listener still cannot connect: {}", w.error);
          return m.came_due();
        }
        break;
      case Listener::Event::notified:
        if (m.take(w.notifications)) return true;
        break;
    }
    if (m.came_due()) return true;
    if (Clock::now() >= deadline) return false;
  }
}

}  // namespace soundhash::db
