// Applies SoundHash's bundled migrations (domain/schema/*.sql).

#include <spdlog/logger.h>

#include <set>

#include "soundhash/db/database.hpp"
#include "soundhash/db/log.hpp"
#include "soundhash/db/migrations.hpp"
#include "sql/migration_table.hpp"

namespace soundhash::db {
namespace {

namespace sql = detail::sql;

// Key of the transaction-level advisory lock that serialises migrate() across
// processes ("SHDBMIGR"). Transaction-level so it also works behind PgBouncer.
constexpr long long kMigrateLock = 0x534844424d494752LL;

}  // namespace

int migrate(Database& database) {
  return database.transact([](Session& s) {
    s.execute(sql::kLockMigrations, kMigrateLock);
    s.execute(sql::kCreateMigrationTable);
    std::set<int> applied;
    for (const auto& row : s.execute(sql::kAppliedVersions)) {
      applied.insert(row[0].as<int>());
    }
    int count = 0;
    for (const auto& m : migrations()) {
      if (applied.contains(m.version)) continue;
      s.call("migrate", [&] {
        s.execute_script(m.sql);
        s.execute(sql::kRecordMigration, m.version, m.name);
      });
      logger().info("Applied migration {} ({})", m.version, m.name);
      ++count;
    }
    return count;
  });
}

int schema_version(Database& database) {
  return database.transact([](Session& s) {
    auto exists = s.execute(sql::kMigrationTableExists);
    if (!exists.as<bool>()) return 0;
    return s.execute(sql::kSchemaVersion).as<int>();
  });
}

int Database::migrate() { return db::migrate(*this); }

int Database::schema_version() { return db::schema_version(*this); }

}  // namespace soundhash::db
