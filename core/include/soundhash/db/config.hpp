#pragma once
// Settings of a Database.
//
//   auto cfg = db::Config::from_env();          // DATABASE_URL, SOUNDHASH_DB_*
//   cfg.pool_size = 16;
//   db::Database database{cfg};

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "soundhash/db/observer.hpp"
#include "soundhash/db/retry.hpp"

namespace soundhash::db {

/// Settings of a Database: where to connect, the pool's bounds, the retry
/// policy and the prepared-statement toggle. Usually built with from_env().
struct Config {
  /// libpq connection string: a URI ("postgresql://u@h/db") or key=value
  /// pairs. Empty: libpq's defaults (PGHOST, PGPORT, PGDATABASE, ...).
  std::string conninfo;
  /// Most connections the pool opens.
  std::size_t pool_size = 10;
  /// How long `Session` waits for a free connection before PoolTimeout.
  std::chrono::milliseconds acquire_timeout{5000};
  /// A pooled connection idle for longer is pinged before reuse.
  std::chrono::milliseconds ping_after_idle{10000};
  /// How transient failures are retried.
  RetryPolicy retry{};
  /// Prepare and cache statements per connection. Turn off behind PgBouncer
  /// in transaction-pooling mode (statements are then sent unnamed).
  bool prepared_statements = true;
  /// Statements that take longer are logged at WARN with their call's name,
  /// duration and SQL text (never parameter values). 0 turns it off.
  std::chrono::milliseconds slow_statement_threshold{0};
  /// At most this many slow-statement lines a second; the rest are counted
  /// and their number logged with the next line.
  int slow_statement_logs_per_second = 10;
  /// libpq connection string of the standbys that Database::read_session()
  /// reads from; it may list several hosts (`host=a,b port=5432,5433` or
  /// `postgresql://a:5432,b:5433/db`), each used on its own. Empty: read
  /// sessions run on the primary.
  std::string replica_conninfo;
  /// Most connections opened to each standby (a pool per standby).
  std::size_t replica_pool_size = 10;
  /// The max_lag of read sessions whose ReadOptions set none; unset: any
  /// lag will do. `soundhash-db doctor` warns about a standby behind it.
  std::optional<std::chrono::milliseconds> replica_max_lag;
  /// How long a standby's measured lag and replay position, or its being
  /// unreachable, are believed before they are looked at again.
  std::chrono::milliseconds replica_status_ttl{1000};
  /// Receives the library's events (see observer.hpp); none by default.
  /// Kept alive by the Database, which calls it from the threads it runs on.
  std::shared_ptr<Observer> observer;

  /// Reads DATABASE_URL into `conninfo` (empty -> libpq's PG* defaults) and
  /// optional overrides: SOUNDHASH_DB_POOL_SIZE,
  /// SOUNDHASH_DB_ACQUIRE_TIMEOUT_MS, SOUNDHASH_DB_PING_AFTER_IDLE_MS,
  /// SOUNDHASH_DB_MAX_RETRIES, SOUNDHASH_DB_RETRY_INITIAL_DELAY_MS,
  /// SOUNDHASH_DB_RETRY_MAX_DELAY_MS, SOUNDHASH_DB_RETRY_MULTIPLIER,
  /// SOUNDHASH_DB_RETRY_JITTER, SOUNDHASH_DB_PREPARED_STATEMENTS
  /// (0/1/true/false), SOUNDHASH_DB_SLOW_STATEMENT_MS,
  /// SOUNDHASH_DB_SLOW_STATEMENT_LOGS_PER_SECOND,
  /// SOUNDHASH_DB_REPLICA_URL (replica_conninfo),
  /// SOUNDHASH_DB_REPLICA_POOL_SIZE, SOUNDHASH_DB_REPLICA_MAX_LAG_MS,
  /// SOUNDHASH_DB_REPLICA_STATUS_TTL_MS. A malformed value throws
  /// InvalidArgument naming the variable. Settings in the conninfo (see
  /// take_conninfo_settings) override the environment.
  static Config from_env();

  /// Applies, and removes from `conninfo` (libpq would reject them), the
  /// settings given there: the environment names in lower case with
  /// "soundhash_" for "SOUNDHASH_DB_", e.g.
  /// `postgresql://h/db?soundhash_pool_size=4` or
  /// `host=h soundhash_max_retries=0`. A malformed value throws
  /// InvalidArgument naming the key. Database's constructor calls this.
  void take_conninfo_settings();

  /// Throws InvalidArgument naming the first setting that makes no sense.
  void validate() const;
};

/// `conninfo` fit to show in logs and errors: rebuilt from libpq's parse of
/// it (a URI stays a URI) with the password shown as "***";
/// "<unparsable conninfo>" when libpq cannot parse it (nothing of it is shown
/// then).
std::string redact_conninfo(std::string_view conninfo);

}  // namespace soundhash::db
