#pragma once
// A bounded, thread-safe pool of Connections. Idle connections are reused
// most-recently-used first (warm prepared-statement caches); one that sat idle
// too long, or that was idle when another connection failed, is pinged before
// it is handed out, so a server restart costs a reconnect, not an error.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/detail/lease.hpp"
#include "soundhash/db/observer.hpp"
#include "soundhash/db/pool_stats.hpp"

namespace soundhash::db::detail {

struct PoolOptions {
  std::string conninfo;
  std::size_t max_size = 10;
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds ping_after_idle{10000};
  bool prepared_statements = true;
  /// Told of acquires and connections opened and closed; may be null.
  Observer* observer = nullptr;
};

class Pool {
 public:
  /// A connection on loan; it goes back to the pool when the lease ends.
  using Handle = Lease;

  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Lends a live connection, opening one if under the bound; waits up to
  /// acquire_timeout, then throws PoolTimeout. Throws ConnectionError if a new
  /// connection cannot be made.
  Handle acquire();

  /// Ends `lease` now (as its destructor would; see give_back).
  void release(Lease lease) noexcept { lease.reset(); }

  /// Marks that a connection failed: idle ones get pinged before reuse.
  void note_failure() noexcept;

  [[nodiscard]] PoolStats stats() const;
  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }

 private:
  friend class Lease;
  /// acquire() without the observer's timing.
  Lease take();
  void report(ConnectionChange change) const noexcept {
    if (options_.observer) options_.observer->on_connection(change);
  }
  /// Takes a connection back (every Lease ends here): rolls back an open
  /// transaction, undoes session state its user may have changed, discards a
  /// broken one, and drops one inherited from the parent of a fork() without
  /// a word to its server. Never throws.
  void give_back(std::unique_ptr<Connection> conn) noexcept;
  bool needs_ping(const Connection& c) const noexcept;
  void discard_locked() noexcept;
  /// In a fork() child: every connection open so far is the parent's. Drops
  /// the idle ones (silently) and stops counting those on loan; the child
  /// opens its own.
  void forget_inherited_locked() noexcept;

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
  std::uint64_t failure_epoch_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t discarded_ = 0;
  std::uint64_t timeouts_ = 0;
  std::uint64_t resets_ = 0;
  int pid_ = current_pid();  // the process whose connections these are
};

}  // namespace soundhash::db::detail
