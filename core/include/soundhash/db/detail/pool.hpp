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

namespace soundhash::db {

/// A snapshot of a pool's counters.
struct PoolStats {
  /// The bound: Config::pool_size.
  std::size_t max_size = 0;
  std::size_t open = 0;    ///< connections that exist now
  std::size_t idle = 0;    ///< of which idle in the pool
  std::size_t in_use = 0;  ///< of which lent out
  /// Connections opened since the pool was made.
  std::uint64_t created = 0;
  /// Broken, failed a ping, or its session state could not be reset.
  std::uint64_t discarded = 0;
  std::uint64_t timeouts = 0;  ///< PoolTimeouts thrown
  /// Connections given back with session state to undo before the next user
  /// (see docs/guide.md, "Connections between users").
  std::uint64_t resets = 0;
};

}  // namespace soundhash::db

namespace soundhash::db::detail {

struct PoolOptions {
  std::string conninfo;
  std::size_t max_size = 10;
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds ping_after_idle{10000};
  bool prepared_statements = true;
};

class Pool {
 public:
  /// A connection on loan. Give it back with `Pool::release` (Session does).
  using Handle = std::unique_ptr<Connection>;

  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Lends a live connection, opening one if under the bound; waits up to
  /// acquire_timeout, then throws PoolTimeout. Throws ConnectionError if a new
  /// connection cannot be made.
  Handle acquire();

  /// Takes a connection back: rolls back an open transaction, undoes session
  /// state its user may have changed, discards a broken one, and drops one
  /// inherited from the parent of a fork() without a word to its server.
  /// Never throws.
  void release(Handle conn) noexcept;

  /// Marks that a connection failed: idle ones get pinged before reuse.
  void note_failure() noexcept;

  [[nodiscard]] PoolStats stats() const;
  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }

 private:
  bool needs_ping(const Connection& c) const noexcept;
  void discard_locked() noexcept;
  /// In a fork() child: every connection open so far is the parent's. Drops
  /// the idle ones (silently) and stops counting those on loan; the child
  /// opens its own.
  void forget_inherited_locked() noexcept;

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<Handle> idle_;
  std::size_t open_ = 0;
  std::uint64_t failure_epoch_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t discarded_ = 0;
  std::uint64_t timeouts_ = 0;
  std::uint64_t resets_ = 0;
  int pid_ = current_pid();  // the process whose connections these are
};

}  // namespace soundhash::db::detail
