#pragma once
// Database: the pool, the policy, and units of work.
//
//   db::Database database{db::Config::from_env()};
//   db::migrate(database);  // SoundHash's schema (domain/migrations.hpp)
//   auto id = database.transact([](db::Session& s) {
//     return s.execute("INSERT INTO channels (channel_id) VALUES ($1) "
//                      "RETURNING id", "UC1").one()[0].as<std::int64_t>();
//   });

#include <memory>
#include <type_traits>
#include <vector>

#include "soundhash/db/config.hpp"
#include "soundhash/db/pool_stats.hpp"
#include "soundhash/db/read_options.hpp"
#include "soundhash/db/retry.hpp"
#include "soundhash/db/session.hpp"
#include "soundhash/db/types.hpp"

namespace soundhash::db {

namespace detail {
class Pool;
class Replicas;
class SlowLog;
struct DatabaseAccess;
}  // namespace detail

/// Owns a bounded, thread-safe connection pool and the retry policy, and
/// hands out units of work: session() for a scoped Session, transact() for a
/// unit that is retried as a whole. Thread-safe; not copyable.
class Database {
 public:
  /// Validates `config` (InvalidArgument on nonsense); connects lazily.
  explicit Database(Config config);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// A new unit of work that commits at scope exit (see Session).
  [[nodiscard]] Session session(TxOptions options = {}) {
    return Session(*this, options, Session::Kind::scoped);
  }
  /// A session whose every call is a transaction of its own, committed
  /// before the call returns (a one-statement call costs one round trip).
  /// For queue workers:
  ///
  ///   auto s = database.autocommit_session();
  ///   db::JobRepository jobs{s};
  ///   auto job = jobs.claim_next_job({"fingerprint"}, worker_id);  // durable
  [[nodiscard]] Session autocommit_session(TxOptions options = {}) {
    return Session(*this, options, Session::Kind::autocommit);
  }
  /// A unit the caller must commit by hand; rolled back if it does not.
  [[nodiscard]] Session manual_session(TxOptions options = {}) {
    return Session(*this, options, Session::Kind::manual);
  }

  /// Runs `fn(Session&)` as one transaction and commits it; on a transient
  /// failure anywhere in it (including at COMMIT) the whole unit is rolled
  /// back and run again per `config().retry`, sleeping with nothing held.
  /// Calls inside do not retry by themselves: the unit has one budget.
  /// CommitInDoubt is never retried. Returns what `fn` returns, by value
  /// (a reference `fn` returns could point into the finished unit).
  template <class F>
  auto transact(F&& fn, TxOptions options = {})
      -> std::remove_cvref_t<std::invoke_result_t<F&, Session&>> {
    return run_unit("transact", options, fn);
  }

  /// A scoped session whose transactions are READ ONLY and run on a standby
  /// of Config::replica_conninfo that meets `options` (lag, replayed
  /// token), or on the primary when none is configured, reachable or
  /// qualifies. The server is chosen when the session takes a connection.
  /// Without options.max_lag, Config::replica_max_lag applies.
  /// A write through it is refused by the server (Error, SQLSTATE 25006).
  ///
  ///   auto s = database.read_session();
  ///   db::VideoRepository videos{s};
  ///   auto hits = videos.find_matches(clip, 10);
  [[nodiscard]] Session read_session(ReadOptions options = {}) {
    if (!options.max_lag) options.max_lag = config_.replica_max_lag;
    return Session(*this, options, Session::Kind::scoped);
  }
  /// transact() for a read-only unit routed as read_session(options): on a
  /// transient failure (a standby lost, a recovery conflict) the whole unit
  /// runs again, and is routed again, so it may move to the primary.
  template <class F>
  auto read_transact(F&& fn, ReadOptions options = {})
      -> std::remove_cvref_t<std::invoke_result_t<F&, Session&>> {
    if (!options.max_lag) options.max_lag = config_.replica_max_lag;
    return run_unit("read_transact", options, fn);
  }
  /// A token at least as new as every unit committed on the primary before
  /// this call (its current WAL insert position): one round trip on the
  /// primary. Pass it as ReadOptions::after to read your own writes.
  [[nodiscard]] CommitToken commit_token();
  /// The standbys' pools' counters, summed over the standbys (all zero when
  /// none is configured).
  [[nodiscard]] PoolStats replica_pool_stats() const;
  /// Looks at every configured standby now: reachable, role, lag (one round
  /// trip each). Empty when none is configured.
  [[nodiscard]] std::vector<ReplicaStatus> replica_status();

  /// Forwards to the domain's `migrate(Database&)` (migrations.hpp), which
  /// defines it: migrating SoundHash's schema is not the core's business.
  [[deprecated("use soundhash::db::migrate(database)")]] int migrate();
  /// Forwards to the domain's `schema_version(Database&)`.
  [[deprecated("use soundhash::db::schema_version(database)")]] int
  schema_version();

  /// The settings this Database was built with.
  [[nodiscard]] const Config& config() const noexcept { return config_; }
  /// A snapshot of the pool's counters (open, idle, in use, discarded, ...).
  [[nodiscard]] PoolStats pool_stats() const;
  /// The observer given in Config::observer, or null.
  [[nodiscard]] Observer* observer() const noexcept {
    return config_.observer.get();
  }

  /// The process-wide instance, built from Config::from_env() on first use
  /// (or from the Config given to configure_global before that).
  static Database& global();
  /// Sets the Config of global(); throws InvalidArgument if it already exists.
  static void configure_global(Config config);

 private:
  friend class Session;
  friend struct detail::DatabaseAccess;  // the pool, for tests
  [[nodiscard]] detail::Pool& pool() noexcept { return *pool_; }
  /// The standbys, or null when none is configured.
  [[nodiscard]] detail::Replicas* replicas() noexcept {
    return replicas_.get();
  }
  [[nodiscard]] detail::SlowLog& slow_log() noexcept { return *slow_log_; }

  // transact() and read_transact(): `fn` in one unit, committed, the whole
  // unit run again on a transient failure; `options` is TxOptions or
  // ReadOptions (Session routes by its type).
  template <class Options, class F>
  auto run_unit(const char* operation, const Options& options, F& fn)
      -> std::remove_cvref_t<std::invoke_result_t<F&, Session&>> {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, Session&>>;
    return detail::retry_observed(
        operation, config_.retry, observer(), [&]() -> R {
          Session s(*this, options, Session::ForTransact{});
          if constexpr (std::is_void_v<R>) {
            fn(s);
            s.commit_unit();
          } else {
            R r = fn(s);
            s.commit_unit();
            return r;
          }
        });
  }

  Config config_;
  std::unique_ptr<detail::Pool> pool_;
  std::unique_ptr<detail::SlowLog> slow_log_;
  std::unique_ptr<detail::Replicas> replicas_;
};

/// `Database::global().session()`: one session to share between
/// repositories, e.g. `auto s = db::get_db_session(); VideoRepository v{s};`.
[[nodiscard]] inline Session get_db_session() {
  return Database::global().session();
}

}  // namespace soundhash::db
