#include "soundhash/db/database.hpp"

#include <atomic>
#include <mutex>
#include <optional>

#include "slow_log.hpp"
#include "soundhash/db/detail/connection.hpp"
#include "soundhash/db/detail/database_access.hpp"
#include "soundhash/db/detail/pool.hpp"
#include "soundhash/db/detail/replicas.hpp"

namespace soundhash::db {
namespace {

detail::PoolOptions pool_options(Config& c) {
  c.take_conninfo_settings();
  c.validate();
  return {.conninfo = c.conninfo,
          .max_size = c.pool_size,
          .acquire_timeout = c.acquire_timeout,
          .ping_after_idle = c.ping_after_idle,
          .prepared_statements = c.prepared_statements,
          .observer = c.observer.get()};
}

std::mutex global_mutex;
std::atomic<Database*> global_instance{nullptr};
std::optional<Config> global_config;

}  // namespace

Database::Database(Config config)
    : config_(std::move(config)),
      pool_(std::make_unique<detail::Pool>(pool_options(config_))),
      slow_log_(std::make_unique<detail::SlowLog>(
          config_.slow_statement_threshold,
          config_.slow_statement_logs_per_second)) {
  if (!config_.replica_conninfo.empty()) {
    detail::PoolOptions o = pool_->options();
    o.max_size = config_.replica_pool_size;
    replicas_ = std::make_unique<detail::Replicas>(config_.replica_conninfo, o,
                                                   config_.replica_status_ttl);
  }
}

Database::~Database() = default;

PoolStats Database::pool_stats() const { return pool_->stats(); }

PoolStats Database::replica_pool_stats() const {
  return replicas_ ? replicas_->stats() : PoolStats{};
}

std::vector<ReplicaStatus> Database::replica_status() {
  return replicas_ ? replicas_->status() : std::vector<ReplicaStatus>{};
}

CommitToken Database::commit_token() {
  return detail::retry_observed("commit_token", config_.retry, observer(), [&] {
    detail::Lease conn = pool_->acquire();
    const Result r = conn->exec({"SELECT pg_current_wal_insert_lsn()::text"});
    return CommitToken::parse(r.one()[0].as<std::string>());
  });
}

Database& Database::global() {
  if (auto* db = global_instance.load(std::memory_order_acquire)) return *db;
  std::lock_guard lock(global_mutex);
  if (auto* db = global_instance.load(std::memory_order_relaxed)) return *db;
  // Never destroyed: services may use it from static destructors and
  // detached threads; the OS closes the sockets at exit.
  auto* db = new Database(global_config ? *global_config : Config::from_env());
  global_instance.store(db, std::memory_order_release);
  return *db;
}

void Database::configure_global(Config config) {
  std::lock_guard lock(global_mutex);
  if (global_instance.load()) {
    throw InvalidArgument(
        "Database::configure_global: the global Database already exists");
  }
  config.validate();
  global_config = std::move(config);
}

namespace detail {

Pool& DatabaseAccess::pool(Database& database) noexcept {
  return database.pool();
}

}  // namespace detail

}  // namespace soundhash::db
