#include "soundhash/db/database.hpp"

#include <atomic>
#include <mutex>
#include <optional>

#include "slow_log.hpp"
#include "soundhash/db/detail/database_access.hpp"
#include "soundhash/db/detail/pool.hpp"

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
          config_.slow_statement_logs_per_second)) {}

Database::~Database() = default;

PoolStats Database::pool_stats() const { return pool_->stats(); }

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
