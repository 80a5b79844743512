#pragma once
// Observer: what the library reports to a service's metrics, installed once
// per Database through Config::observer.
//
//   struct Counting : db::Observer {
//     std::atomic<int> retries{0};
//     void on_retry(const db::RetryEvent&) noexcept override { ++retries; }
//   };
//   auto counting = std::make_shared<Counting>();
//   db::Config cfg = db::Config::from_env();
//   cfg.observer = counting;
//   db::Database database{cfg};
//
// Callbacks run synchronously on the thread that caused the event (a
// Session's thread, or whichever thread took or gave back a pooled
// connection), never under the pool's lock, so an observer may call
// Database::pool_stats(). Many threads may call one observer at once: it must
// be thread-safe and cheap; the callbacks are noexcept, and must not use the
// Database they observe (a session, a transact) from inside a callback. With no
// observer installed an event costs one pointer test.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace soundhash::db {

/// One attempt of an operation done: a call (a repository method, or one
/// execute/read/... outside any call), from its first statement to its end.
/// A retried operation reports each attempt.
struct StatementEvent {
  /// The call's name: a repository method's name, "execute", "read",
  /// "execute_script", "copy_in", or the name given to Session::call. A
  /// bounded set, fit for a metric label.
  std::string_view operation;
  std::chrono::nanoseconds duration{0};
  /// Round trips to the server the attempt cost (not counting taking a
  /// connection from the pool).
  int round_trips = 0;
  /// Rows the last statement returned or affected; 0 on failure.
  std::int64_t rows = 0;
  /// True if the attempt succeeded.
  bool ok = true;
  /// The failure's SQLSTATE ("" on success, or for a failure without one,
  /// e.g. a connection lost without the server's word).
  std::string_view sqlstate;
};

/// A transient failure about to be retried (logged at WARN as well).
struct RetryEvent {
  /// The retried operation ("transact" for a Database::transact unit).
  std::string_view operation;
  /// The attempt that failed (1 = the first) and the most there will be.
  long long attempt = 0;
  long long attempts = 0;
  /// The failure's SQLSTATE, e.g. "40P01" for a deadlock ("" if none).
  std::string_view sqlstate;
  /// How long the library sleeps before the next attempt.
  std::chrono::nanoseconds delay{0};
};

/// How a transaction that held work ended.
enum class UnitOutcome {
  committed,
  rolled_back,
  /// The connection was lost during COMMIT: it may or may not have
  /// committed (CommitInDoubt).
  in_doubt,
};

/// A connection's life event.
enum class ConnectionChange {
  opened,
  /// Found unusable (lost, failed a ping, or hung up while idle) and closed.
  broken,
  /// Closed on purpose: session state it held could not be reset.
  discarded,
};

/// A caller taking a connection from the pool.
struct AcquireEvent {
  /// From asking to getting one (including opening it), or to giving up.
  std::chrono::nanoseconds wait{0};
  /// True when the caller got PoolTimeout.
  bool timed_out = false;
};

/// Receives the library's events; override what you need (the defaults do
/// nothing). See the file comment for the threading rules.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_statement(const StatementEvent& /*event*/) noexcept {}
  virtual void on_retry(const RetryEvent& /*event*/) noexcept {}
  virtual void on_unit(UnitOutcome /*outcome*/) noexcept {}
  virtual void on_acquire(const AcquireEvent& /*event*/) noexcept {}
  virtual void on_connection(ConnectionChange /*change*/) noexcept {}
};

}  // namespace soundhash::db
