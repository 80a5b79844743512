#pragma once
// The standbys of a Database: one bounded pool per standby host, and the
// routing of read sessions between them (see docs/guide/replicas.md).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "soundhash/db/detail/lease.hpp"
#include "soundhash/db/detail/pool.hpp"
#include "soundhash/db/pool_stats.hpp"
#include "soundhash/db/read_options.hpp"

namespace soundhash::db::detail {

/// One conninfo per host of `conninfo` (libpq's comma-separated host,
/// hostaddr and port lists), the other settings repeated in each, in
/// key=value form. Throws InvalidArgument when libpq cannot parse it.
std::vector<std::string> split_hosts(const std::string& conninfo);

class Replicas {
 public:
  /// `base` gives every standby pool its bounds (max_size per standby);
  /// `status_ttl` is how long a measured lag or an unreachable standby is
  /// believed before it is looked at again.
  Replicas(const std::string& conninfo, const PoolOptions& base,
           std::chrono::milliseconds status_ttl);
  ~Replicas();
  Replicas(const Replicas&) = delete;
  Replicas& operator=(const Replicas&) = delete;

  /// A connection to a standby that meets `options`, or an empty lease when
  /// none does (the caller then uses the primary). Throws PoolTimeout when
  /// the chosen standby's pool stays full.
  Lease acquire(const ReadOptions& options);
  /// The standby pools' counters, summed (max_size too).
  [[nodiscard]] PoolStats stats() const;
  /// Looks at every standby now (a round trip each).
  std::vector<ReplicaStatus> status();

 private:
  struct Standby;
  /// Makes sure `s`'s lag and replay position are at most status_ttl old,
  /// measuring on `conn` when not. False when `conn` failed.
  bool refresh(Standby& s, Connection& conn, bool force);
  /// Polls `conn` until `s` has replayed `token` or `deadline` passes.
  bool wait_for(Standby& s, Connection& conn, CommitToken token,
                std::chrono::steady_clock::time_point deadline);
  void mark_down(Standby& s, std::string why);
  /// Logs when reads move between the standbys and the primary.
  void note_route(bool on_standby, const std::string& why);

  std::vector<std::unique_ptr<Standby>> standbys_;
  std::chrono::milliseconds ttl_;
  std::atomic<std::size_t> next_{0};
  std::atomic<int> route_{-1};  // -1 not yet, 0 primary, 1 standby
};

}  // namespace soundhash::db::detail
