#pragma once
// Counters of a Database's connection pool (Database::pool_stats()).

#include <cstddef>
#include <cstdint>

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
  /// (see the guide, "Connections between users").
  std::uint64_t resets = 0;
};

}  // namespace soundhash::db
