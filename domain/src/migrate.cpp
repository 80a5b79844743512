// Applies SoundHash's bundled migrations (see migrations.cpp for the SQL).

#include <set>

#include "soundhash/db/database.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/migrations.hpp"

namespace soundhash::db {
namespace {

// Key of the transaction-level advisory lock that serialises migrate() across
// processes ("SHDBMIGR"). Transaction-level so it also works behind PgBouncer.
constexpr long long kMigrateLock = 0x534844424d494752LL;

constexpr std::string_view kCreateTracking =
    "CREATE TABLE IF NOT EXISTS soundhash_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

}  // namespace

int migrate(Database& database) {
  return database.transact([](Session& s) {
    s.execute("SELECT pg_advisory_xact_lock($1)", kMigrateLock);
    s.execute(kCreateTracking);
    std::set<int> applied;
    for (const auto& row :
         s.execute("SELECT version FROM soundhash_schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    int count = 0;
    for (const auto& m : migrations()) {
      if (applied.contains(m.version)) continue;
      s.call("migrate", [&] {
        s.execute_script(m.sql);
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

int schema_version(Database& database) {
  return database.transact([](Session& s) {
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

int Database::migrate() { return db::migrate(*this); }

int Database::schema_version() { return db::schema_version(*this); }

}  // namespace soundhash::db
