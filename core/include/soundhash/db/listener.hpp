#pragma once
// LISTEN/NOTIFY on a connection of its own (not from the pool).
//
//   db::Listener listener{database};
//   listener.listen("cache_invalidated");
//   listener.connect();  // optional: wait() connects too
//   for (;;) {
//     auto w = listener.wait(std::chrono::seconds(30));
//     if (w.event == db::Listener::Event::woken) break;  // wake() was called
//     for (const auto& n : w.notifications) handle(n.channel, n.payload);
//     if (w.event == db::Listener::Event::connected) resync();  // missed any?
//   }
//
// Notifications are delivered when the notifying transaction commits. While
// the connection is down nothing is heard: wait() reconnects (LISTENing to
// every channel again) and says so, so the caller can catch up.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace soundhash::db {

class Database;

/// A NOTIFY received.
struct Notification {
  std::string channel;  ///< the channel it was sent on
  std::string payload;  ///< its payload ("" when none was given)
};

/// Waits for notifications on the channels it listens to, over a connection
/// of its own made from a Database's conninfo. Not thread-safe, except
/// wake(). Behind PgBouncer in transaction pooling mode LISTEN does not work:
/// give it a Database configured for the server itself.
class Listener {
 public:
  /// Why wait() returned.
  enum class Event {
    notified,   ///< notifications arrived
    timed_out,  ///< the timeout passed (also when reconnecting failed)
    woken,      ///< wake() was called
    /// The connection was just (re)made and every channel LISTENed again:
    /// notifications sent while it was down were missed.
    connected,
    /// The connection was lost (see `error`); the next wait() reconnects.
    lost,
  };
  /// What wait() returns.
  struct Wait {
    /// Why it returned.
    Event event = Event::timed_out;
    /// What arrived, in order (with any event: a wake() that came with them
    /// does not drop them).
    std::vector<Notification> notifications;
    /// Why the connection was lost (lost), or why reconnecting failed.
    std::string error;
  };

  /// Connects lazily, to `db`'s conninfo (`db` need not outlive it).
  explicit Listener(const Database& db);
  ~Listener();
  /// Takes over `other`'s connection and channels; `other` is left empty
  /// (only destroying or assigning to it is allowed).
  Listener(Listener&& other) noexcept;
  /// As the move constructor, closing this one's connection first.
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// Adds `channel` (at most 63 bytes; a simple lower-case name is sent
  /// unquoted, so it must not be a reserved SQL word). LISTENs at once when
  /// connected, else on connecting. Throws what the LISTEN throws (a lost
  /// connection is dropped, and the channel kept for the reconnect).
  void listen(std::string channel);

  /// Connects, unless connected, and LISTENs to every channel, in one round
  /// trip. Throws ConnectionError if the server cannot be reached.
  void connect();

  /// Waits up to `timeout` (>= 0; milliseconds::max() waits for ever) for
  /// notifications. Returns at once with `woken` if wake() was called since
  /// the last wait, and with `connected` after reconnecting. When it cannot
  /// reconnect it sleeps the timeout and returns `timed_out` (or `woken`)
  /// with the reason in `error`.
  Wait wait(std::chrono::milliseconds timeout);

  /// Makes the current (or next) wait() return `woken` at once. Safe from
  /// another thread or a signal handler.
  void wake() noexcept;

  /// True while the connection is up.
  [[nodiscard]] bool connected() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace soundhash::db
