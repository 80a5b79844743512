#include "soundhash/db/database.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <set>

#include "soundhash/db/detail/migrations.hpp"
#include "soundhash/db/log.hpp"

namespace soundhash::db {
namespace {

detail::PoolOptions pool_options(Config& c) {
  c.take_conninfo_settings();
  c.validate();
  return {.conninfo = c.conninfo,
          .max_size = c.pool_size,
          .acquire_timeout = c.acquire_timeout,
          .ping_after_idle = c.ping_after_idle,
          .prepared_statements = c.prepared_statements};
}

// Key of the transaction-level advisory lock that serialises migrate() across
// processes ("SHDBMIGR"). Transaction-level so it also works behind PgBouncer.
constexpr long long kMigrateLock = 0x534844424d494752LL;

constexpr std::string_view kCreateTracking =
    "CREATE TABLE IF NOT EXISTS soundhash_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

std::mutex global_mutex;
std::atomic<Database*> global_instance{nullptr};
std::optional<Config> global_config;

}  // namespace

Database::Database(Config config)
    : config_(std::move(config)), pool_(pool_options(config_)) {}

Database::~Database() = default;

int Database::migrate() {
  return transact([](Session& s) {
    s.execute("SELECT pg_advisory_xact_lock($1)", kMigrateLock);
    s.execute(kCreateTracking);
    std::set<int> applied;
    for (const auto& row :
         s.execute("SELECT version FROM soundhash_schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    int count = 0;
    for (const auto& m : detail::migrations()) {
      if (applied.contains(m.version)) continue;
      s.call("migrate", [&] {
        s.run_script(m.sql);
        s.execute(
            "INSERT INTO soundhash_schema_migrations (version, name) "
            "VALUES ($1, $2)",
            m.version, m.name);
      });
      logger().info("Applied migration {} ({})", m.version, m.name);
      ++count;
    }
    return count;
  });
}

int Database::schema_version() {
  return transact([](Session& s) {
    auto exists = s.execute(
        "SELECT to_regclass('soundhash_schema_migrations') IS NOT NULL");
    if (!exists.one()[0].as<bool>()) return 0;
    return s
        .execute(
            "SELECT coalesce(max(version), 0) FROM "
            "soundhash_schema_migrations")
        .one()[0]
        .as<int>();
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

}  // namespace soundhash::db
