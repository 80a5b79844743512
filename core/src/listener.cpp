#include "soundhash/db/listener.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

#include "deadline.hpp"
#include "soundhash/db/database.hpp"
#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/errors.hpp"

namespace soundhash::db {
namespace {

using Clock = std::chrono::steady_clock;

// PostgreSQL truncates longer identifiers, and a truncated channel would
// never match the name its notifications are looked up by.
constexpr std::size_t kMaxChannel = 63;

bool simple_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string listen_sql(std::string_view channel) {
  // Sent as is when that needs no quoting, so that it reads in
  // pg_stat_activity as it would typed.
  if (simple_name(channel)) return "LISTEN " + std::string(channel);
  std::string sql = "LISTEN \"";
  for (char c : channel) {
    if (c == '"') sql += '"';
    sql += c;
  }
  return sql + '"';
}

}  // namespace

struct Listener::Impl {
  std::string conninfo;  // a copy: the listener may outlive its Database
  std::vector<std::string> channels;
  std::unique_ptr<detail::Connection> conn;
  int wake_fd = -1;

  explicit Impl(std::string info) : conninfo(std::move(info)) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "Listener: eventfd");
    }
  }
  ~Impl() { ::close(wake_fd); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Drains the wake-up counter; true if wake() was called.
  bool take_wake() const noexcept {
    std::uint64_t n = 0;
    return ::read(wake_fd, &n, sizeof n) == static_cast<ssize_t>(sizeof n);
  }

  // Sleeps until `deadline` unless woken.
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

Listener::Listener(const Database& db)
    : impl_(std::make_unique<Impl>(db.config().conninfo)) {}

Listener::~Listener() = default;
Listener::Listener(Listener&&) noexcept = default;
Listener& Listener::operator=(Listener&&) noexcept = default;

void Listener::listen(std::string channel) {
  if (channel.empty() || channel.size() > kMaxChannel ||
      channel.find('\0') != std::string::npos) {
    throw InvalidArgument(
        "Listener::listen: a channel is 1 to 63 bytes, without NUL");
  }
  Impl& m = *impl_;
  if (std::find(m.channels.begin(), m.channels.end(), channel) !=
      m.channels.end()) {
    return;
  }
  m.channels.push_back(std::move(channel));
  if (!m.conn) return;
  try {
    m.conn->exec_script(listen_sql(m.channels.back()));
  } catch (...) {
    if (m.conn->broken()) {
      m.conn.reset();  // LISTENed again on reconnect
    } else {
      m.channels.pop_back();  // the server refused it
    }
    throw;
  }
}

void Listener::connect() {
  Impl& m = *impl_;
  if (connected()) return;
  m.conn.reset();
  auto c = std::make_unique<detail::Connection>(m.conninfo, /*prepare=*/false);
  if (!m.channels.empty()) {
    std::string sql;
    for (const auto& channel : m.channels) {
      if (!sql.empty()) sql += "; ";
      sql += listen_sql(channel);
    }
    c->exec_script(sql);
  }
  m.conn = std::move(c);
}

Listener::Wait Listener::wait(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) {
    throw InvalidArgument("Listener::wait: timeout must be >= 0");
  }
  Impl& m = *impl_;
  Wait w;
  if (m.take_wake()) {
    w.event = Event::woken;
    return w;
  }
  if (!m.conn) {
    try {
      connect();
      w.event = Event::connected;
      return w;
    } catch (const Error& e) {
      w.error = e.what();
      m.sleep_until(detail::deadline_after(timeout));
      w.event = m.take_wake() ? Event::woken : Event::timed_out;
      return w;
    }
  }
  std::vector<detail::Notification> notes;
  try {
    m.conn->await_notifications(timeout, m.wake_fd, notes);
  } catch (const ConnectionError& e) {
    m.conn.reset();
    w.error = e.what();
    w.event = Event::lost;
    return w;
  }
  w.notifications.reserve(notes.size());
  for (auto& n : notes) {
    w.notifications.push_back({std::move(n.channel), std::move(n.payload)});
  }
  if (m.take_wake()) {
    w.event = Event::woken;
  } else {
    w.event = w.notifications.empty() ? Event::timed_out : Event::notified;
  }
  return w;
}

void Listener::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof one);
}

bool Listener::connected() const noexcept {
  return impl_->conn && !impl_->conn->broken();
}

}  // namespace soundhash::db
