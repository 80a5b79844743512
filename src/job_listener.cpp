#include "soundhash/db/job_listener.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/errors.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {
namespace {

// The channel the migrations' triggers notify, with the job type as payload.
constexpr std::string_view kChannel = "soundhash_jobs";

}  // namespace

struct JobListener::Impl {
  Database& db;
  std::vector<std::string> types;
  std::unique_ptr<detail::Connection> conn;
  int wake_fd = -1;

  void connect() {
    auto c = std::make_unique<detail::Connection>(db.config().conninfo,
                                                  /*prepare=*/false);
    c->exec({"LISTEN soundhash_jobs"});
    conn = std::move(c);
  }

  bool wanted(const std::vector<std::string>& payloads) const {
    if (types.empty()) return !payloads.empty();
    return std::any_of(payloads.begin(), payloads.end(), [&](const auto& p) {
      return std::find(types.begin(), types.end(), p) != types.end();
    });
  }

  // Drains the wake-up counter; true if interrupt() was called.
  bool take_interrupt() const noexcept {
    std::uint64_t n = 0;
    return ::read(wake_fd, &n, sizeof n) == static_cast<ssize_t>(sizeof n);
  }

  // The polling fallback: sleep `timeout` unless interrupted.
  void sleep(std::chrono::milliseconds timeout) const {
    pollfd fd{wake_fd, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      const int rc = ::poll(&fd, 1,
                            static_cast<int>(std::min<long long>(
                                left.count(), 24LL * 3600 * 1000)));
      if (rc > 0 || (rc < 0 && errno != EINTR)) return;
    }
  }
};

JobListener::JobListener(Database& db, std::vector<std::string> job_types)
    : impl_(new Impl{db, std::move(job_types)}) {
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
  if (!m.conn) {
    try {
      m.connect();
      logger().info("Job listener reconnected; listening again");
      return true;  // jobs may have come while it was away
    } catch (const Error& e) {
      logger().debug("Job listener still cannot connect: {}", e.what());
      m.sleep(timeout);
      m.take_interrupt();
      return false;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> payloads;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    payloads.clear();
    try {
      m.conn->await_notifications(kChannel,
                                  std::max(left, std::chrono::milliseconds{0}),
                                  m.wake_fd, payloads);
    } catch (const ConnectionError& e) {
      logger().warn(
          "Job listener lost its connection ({}); polling until it is back",
          e.what());
      m.conn.reset();
      return true;
    }
    if (m.take_interrupt()) return false;
    if (m.wanted(payloads)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

}  // namespace soundhash::db
