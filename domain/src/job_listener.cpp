#include "soundhash/db/job_listener.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <set>
#include <string_view>
#include <system_error>

#include "soundhash/db/detail/deadline.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/errors.hpp"
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

}  // namespace

struct JobListener::Impl {
  std::string conninfo;  // a copy: the listener may outlive its Database
  std::vector<std::string> types;
  std::unique_ptr<detail::Connection> conn;
  int wake_fd = -1;

  // When announced jobs of our types come due, earliest first.
  std::multiset<Clock::time_point> due;

  void connect() {
    auto c = std::make_unique<detail::Connection>(conninfo,
                                                  /*prepare=*/false);
    c->exec_script("LISTEN soundhash_jobs; LISTEN soundhash_jobs_delayed");
    conn = std::move(c);
  }

  bool wanted(std::string_view type) const {
    return types.empty() ||
           std::find(types.begin(), types.end(), type) != types.end();
  }

  // True if a notification says jobs of our types are runnable now; jobs
  // announced for later are remembered until they come due. The wait in a
  // delayed payload starts when the trigger ran, before the commit that
  // delivered it, so counting it from receipt is never early.
  bool take(const std::vector<detail::Notification>& notes) {
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

  // Drains the wake-up counter; true if interrupt() was called.
  bool take_interrupt() const noexcept {
    std::uint64_t n = 0;
    return ::read(wake_fd, &n, sizeof n) == static_cast<ssize_t>(sizeof n);
  }

  // The polling fallback: sleep until `deadline` unless interrupted.
  void sleep_until(Clock::time_point deadline) const {
    pollfd fd{wake_fd, POLLIN, 0};
    for (;;) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return;
      const int rc = ::poll(&fd, 1,
                            static_cast<int>(std::min<long long>(
                                left.count(), 24LL * 3600 * 1000)));
      if (rc > 0 || (rc < 0 && errno != EINTR)) return;
    }
  }
};

JobListener::JobListener(Database& db, std::vector<std::string> job_types)
    : impl_(new Impl{db.config().conninfo, std::move(job_types)}) {
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wake_fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "JobListener: eventfd");
  }
  try {
    impl_->connect();
  } catch (const Error& e) {
    logger().warn("Job listener could not connect ({}); polling until it can",
                  e.what());
  }
}

JobListener::~JobListener() {
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

bool JobListener::connected() const noexcept {
  return impl_->conn && !impl_->conn->broken();
}

void JobListener::interrupt() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof one);
}

bool JobListener::wait_for_jobs(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) {
    throw InvalidArgument("wait_for_jobs: timeout must be >= 0");
  }
  Impl& m = *impl_;
  if (m.take_interrupt()) return false;
  if (m.came_due()) return true;
  const auto deadline = detail::deadline_after(timeout);  // max(): forever
  if (!m.conn) {
    try {
      m.connect();
      logger().info("Job listener reconnected; listening again");
      return true;  // jobs may have come while it was away
    } catch (const Error& e) {
      logger().debug("Job listener still cannot connect: {}", e.what());
      m.sleep_until(m.wake_at(deadline));
      if (m.take_interrupt()) return false;
      return m.came_due();
    }
  }
  std::vector<detail::Notification> notes;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        m.wake_at(deadline) - Clock::now());
    notes.clear();
    try {
      m.conn->await_notifications(std::max(left, std::chrono::milliseconds{0}),
                                  m.wake_fd, notes);
    } catch (const ConnectionError& e) {
      logger().warn(
          "Job listener lost its connection ({}); polling until it is back",
          e.what());
      m.conn.reset();
      return true;
    }
    if (m.take_interrupt()) return false;
    if (m.take(notes)) return true;
    if (m.came_due()) return true;
    if (Clock::now() >= deadline) return false;
  }
}

}  // namespace soundhash::db
