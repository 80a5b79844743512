#pragma once
// Reads on standbys: where Database::read_session() may run its units.
//
//   db::ReadOptions ro;
//   ro.max_lag = std::chrono::milliseconds(500);  // skip a standby further
//   behind ro.after = token;  // from Database::commit_token(): see my own
//   writes auto s = database.read_session(ro);
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "soundhash/db/types.hpp"

namespace soundhash::db {

/// A position in the primary's write-ahead log (an LSN): a standby that has
/// replayed up to it sees every unit committed before it was taken. Get one
/// with Database::commit_token() after a commit; pass it on (to_string /
/// parse, e.g. in a cookie) to a later read session's ReadOptions::after.
struct CommitToken {
  std::uint64_t lsn = 0;

  /// PostgreSQL's text form of an LSN, "16/B374D848".
  [[nodiscard]] std::string to_string() const;
  /// The inverse of to_string(); throws InvalidArgument on anything else.
  static CommitToken parse(std::string_view text);

  friend auto operator<=>(const CommitToken&, const CommitToken&) = default;
};

/// What a read session demands of the server it runs on. With no standby
/// configured, or none that qualifies, it runs on the primary.
struct ReadOptions {
  /// Skip a standby whose replication lag is larger (see docs/guide/
  /// replicas.md for how lag is measured). Unset: Config::replica_max_lag,
  /// and when that is unset too, any lag will do.
  std::optional<std::chrono::milliseconds> max_lag;
  /// Run on a standby only once it has replayed this token, waiting up to
  /// `after_wait` for one to get there; else on the primary.
  std::optional<CommitToken> after;
  std::chrono::milliseconds after_wait{100};
  /// The isolation of the read-only transactions.
  Isolation isolation = Isolation::read_committed;
};

/// One configured standby as Database::replica_status() found it.
struct ReplicaStatus {
  std::string server;      ///< host:port (never a password)
  bool reachable = false;  ///< a connection could be made and used
  bool standby = false;    ///< the server is in recovery (a hot standby)
  /// Replication lag (see ReadOptions::max_lag); unset when unknown.
  std::optional<std::chrono::milliseconds> lag;
  /// The replayed WAL position; lsn 0 when unknown.
  CommitToken replayed{};
  std::string error;  ///< why it is unreachable, if it is
};

}  // namespace soundhash::db
